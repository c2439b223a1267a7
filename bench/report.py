"""Turns the raw measurements of a run into medians, ratios to Gin in the same round, a Markdown report and
one PNG chart per scenario.

Every figure is the median over the rounds of that placement; a ratio is the median of the per-round ratios
(the server and its Gin baseline measured in the same round). Socket errors, timeouts and non-2xx answers are
shown beside every throughput, because a server can look fast by not answering.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

Row = dict[str, Any]
DISTURBED = 0.25
"""Cores used by other processes above which a measurement counts as disturbed (as in scenarios.DISTURBED)."""
SEED_CLAIMS = {
    "ping": "Seed's claim (not measured here): Gin /ping 42,310 req/s at 23.6 ms average, 1000 connections; "
    "Flask (gunicorn+gevent) 11,200 req/s at 89 ms vs Gin 78,500 req/s at 12 ms (\"same logic\").",
    "login-fake": "Seed's claim (not measured here): Flask (gunicorn+gevent) 11,200 req/s at 89 ms average, "
    "Gin 78,500 req/s at 12 ms, 1000 connections, 4-core machine.",
    "io-ramp": "Seed's claim (not measured here, locust, Flask): 500 users 48 ms 100%; 1000: 136 ms 98.7%; "
    "2000: 420 ms 89.2%; 3000: 1100+ ms 63.5%.",
    "startup": "Seed's claim (not measured here): Flask 89 ms / 28 MB, Gin 12 ms / 6.5 MB.",
}


def median(values: Iterable[float]) -> float | None:
    data = [v for v in values if v is not None]
    return statistics.median(data) if data else None


class Run:
    """A results document (as written to JSON) with the look-ups the report needs."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.labels: dict[str, str] = doc["targets"]
        self.placements: dict[str, dict[str, Any]] = doc["placements"]
        self.threshold = float(doc["meta"].get("disturbed_threshold", DISTURBED))
        self.groups: dict[tuple[str, str, str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
        for m in doc["measurements"]:
            self.groups[(m["placement"], m["scenario"], m["step"], m["target"])][m["round"]] = m["wrk"]

    def disturbed(self, w: dict[str, Any]) -> bool:
        return float(w.get("cpu", {}).get("other", 0.0)) > self.threshold

    def all_rounds(self, placement: str, scenario: str, step: str, target: str) -> dict[int, dict[str, Any]]:
        return self.groups.get((placement, scenario, step, target), {})

    def rounds(self, placement: str, scenario: str, step: str, target: str) -> dict[int, dict[str, Any]]:
        """The rounds that count: the undisturbed ones, or all of them when every one was disturbed."""
        everything = self.all_rounds(placement, scenario, step, target)
        quiet = {r: w for r, w in everything.items() if not self.disturbed(w)}
        return quiet or everything

    def flag(self, placement: str, scenario: str, step: str, target: str) -> str:
        """" *" when disturbed rounds were left out of the median, " †" when every round was disturbed."""
        everything = self.all_rounds(placement, scenario, step, target)
        disturbed = sum(self.disturbed(w) for w in everything.values())
        if not disturbed:
            return ""
        return " †" if disturbed == len(everything) else " *"

    def label(self, placement: str, scenario: str, step: str, target: str) -> str:
        return self.labels[target] + self.flag(placement, scenario, step, target)

    def targets_in(self, placement: str, scenario: str, step: str) -> list[str]:
        present = {t for (p, s, st, t) in self.groups if (p, s, st) == (placement, scenario, step)}
        return [t for t in self.labels if t in present]

    def steps(self, scenario: str) -> list[str]:
        steps = {st for (_, s, st, _) in self.groups if s == scenario}
        return sorted(steps, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))

    def stat(self, placement: str, scenario: str, step: str, target: str, get: Callable[[dict[str, Any]], Any]) -> Any:
        return median(get(w) for w in self.rounds(placement, scenario, step, target).values())

    def ratios(
        self, placement: str, scenario: str, step: str, target: str, baseline: str,
        get: Callable[[dict[str, Any]], Any],
    ) -> list[float]:
        """The ratio of each round in which both were measured (the report shows their median and range)."""
        mine, base = self.rounds(placement, scenario, step, target), self.rounds(placement, scenario, step, baseline)
        if not set(mine) & set(base):  # no round where both were undisturbed
            mine = self.all_rounds(placement, scenario, step, target)
            base = self.all_rounds(placement, scenario, step, baseline)
        values = []
        for round_no, w in mine.items():
            if round_no in base and get(base[round_no]):
                values.append(get(w) / get(base[round_no]))
        return values


def ok_rps(w: dict[str, Any]) -> float:
    return float(w["ok_rps"])


def lat(key: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda w: w["latency_us"][key] / 1000 if w.get("latency_us") else None


def err(key: str) -> Callable[[dict[str, Any]], int]:
    return lambda w: w["errors"][key]


def cpu(key: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda w: w.get("cpu", {}).get(key)


def extra(key: str) -> Callable[[dict[str, Any]], Any]:
    """A figure the scenario added to the round's result (login-real: the ms of one hash, see scenarios.py)."""
    return lambda w: w.get("extra", {}).get(key)


def hash_share(key: str, cores: int) -> Callable[[dict[str, Any]], float | None]:
    """The round's logins per core times the ms of one hash under `key`: the share of that round's hash limit."""

    def share(w: dict[str, Any]) -> float | None:
        ms = extra(key)(w)
        return ok_rps(w) / cores * ms / 1000 if ms else None

    return share


def socket_errors(w: dict[str, Any]) -> int:
    return sum(w["errors"][k] for k in ("connect", "read", "write"))


# -- formatting ------------------------------------------------------------------------------------------------


def f_num(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def f_ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def f_ratios(values: list[float]) -> str:
    """The median of per-round ratios, with their range when there are several: on a noisy VM the range says
    whether a difference is more than noise."""
    if len(values) < 2 or max(values) - min(values) < 0.005:  # one round, or the baseline against itself
        return f_ratio(median(values))
    return f"{f_ratio(median(values))} ({min(values):.2f}-{max(values):.2f})"


def f_pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# -- tables per kind ---------------------------------------------------------------------------------------------


def throughput_table(run: Run, sc: dict[str, Any]) -> str:
    key, baselines = sc["key"], sc["baselines"]
    header = ["Server", "Placement", "conns", "ok req/s", *[f"x {b}" for b in baselines], "p50 ms", "p99 ms",
              "max ms", "completed", "timeouts", "socket errors", "non-2xx", "server cores"]
    rows = []
    for placement in run.placements:
        for target in run.targets_in(placement, key, ""):
            s = partial(run.stat, placement, key, "", target)
            rows.append([
                run.label(placement, key, "", target), placement, f_num(s(lambda w: w["connections"])),
                f_num(s(ok_rps)), *[f_ratios(run.ratios(placement, key, "", target, b, ok_rps)) for b in baselines],
                f_num(s(lat("p50")), 1), f_num(s(lat("p99")), 1), f_num(s(lat("max")), 0),
                f_num(s(lambda w: w["requests"])), f_num(s(err("timeout"))), f_num(s(socket_errors)),
                f_num(s(err("status"))), f_num(s(cpu("server")), 2),
            ])
    return table(header, rows)


def login_table(run: Run, sc: dict[str, Any]) -> str:
    key = sc["key"]
    hash_ms = run.doc["hash_cost"]
    header = ["Server", "Placement", "conns", "logins/s", "per core", "hash limit / core", "% of limit",
              "hash ms beside", "% of the limit beside", "CPU of its own hashes, ms", "% of that limit",
              "x Keycloak 15/s/vCPU", "x gin-real", "p50 ms", "p99 ms",
              "non-2xx", "socket errors + timeouts",
              "server cores", "PostgreSQL cores"]
    rows = []
    for placement, meta in run.placements.items():
        cores = meta["cores"]
        for target in run.targets_in(placement, key, ""):
            s = partial(run.stat, placement, key, "", target)
            per_core = (s(ok_rps) or 0) / cores
            impl = "go_x_crypto_ms" if target.startswith("gin") else "argon2_cffi_ms"
            limit = 1000 / hash_ms[impl] if hash_ms.get(impl) else None
            rows.append([
                run.label(placement, key, "", target), placement, f_num(s(lambda w: w["connections"])),
                f_num(s(ok_rps), 1),
                f_num(per_core, 1), f_num(limit, 1) + f" ({impl.split('_ms')[0]})" if limit else "-",
                f_pct(per_core / limit if limit else None),
                f_num(s(extra("hash_ms")), 1), f_pct(s(hash_share("hash_ms", cores))),
                f_num(s(extra("own_hash_cpu_ms")), 1), f_pct(s(hash_share("own_hash_cpu_ms", cores))),
                f_ratio(per_core / 15),
                f_ratios(run.ratios(placement, key, "", target, "gin-real", ok_rps)),
                f_num(s(lat("p50")), 0), f_num(s(lat("p99")), 0), f_num(s(err("status"))),
                f_num(s(lambda w: socket_errors(w) + w["errors"]["timeout"])), f_num(s(cpu("server")), 2),
                f_num(s(cpu("postgres")), 2),
            ])
    return table(header, rows)


def ramp_table(run: Run, sc: dict[str, Any]) -> str:
    key, baselines = sc["key"], sc["baselines"]
    header = ["Server", "Placement", "conns", "ok req/s", *[f"x {b}" for b in baselines], "success", "mean ms",
              "p99 ms", "completed", "timeouts", "socket errors", "non-2xx", "server cores"]
    rows = []
    for placement in run.placements:
        targets = {t for step in run.steps(key) for t in run.targets_in(placement, key, step)}
        for target in [t for t in run.labels if t in targets]:
            for step in run.steps(key):
                s = partial(run.stat, placement, key, step, target)
                if not run.rounds(placement, key, step, target):
                    continue
                rows.append([
                    run.label(placement, key, step, target), placement, step, f_num(s(ok_rps)),
                    *[f_ratios(run.ratios(placement, key, step, target, b, ok_rps)) for b in baselines],
                    f_pct(s(lambda w: w["success_rate"])), f_num(s(lat("mean")), 1), f_num(s(lat("p99")), 1),
                    f_num(s(lambda w: w["requests"])), f_num(s(err("timeout"))), f_num(s(socket_errors)),
                    f_num(s(err("status"))), f_num(s(cpu("server")), 2),
                ])
    return table(header, rows)


def storm_table(run: Run, sc: dict[str, Any]) -> str:
    key = sc["key"]
    header = ["Server", "Placement", "/ping p50 ms idle", "p99 idle", "p50 in storm", "p99 in storm",
              "p99 storm/idle", "x gin-real p99", "storm logins/s", "storm non-2xx", "storm timeouts"]
    rows = []
    for placement in run.placements:
        for target in run.targets_in(placement, key, "storm"):
            def s(step: str, get: Callable[[dict[str, Any]], Any], where: tuple[str, str] = (placement, target)) -> Any:
                return run.stat(where[0], key, step, where[1], get)

            idle99, storm99 = s("idle", lat("p99")), s("storm", lat("p99"))
            flags = {run.flag(placement, key, step, target) for step in ("idle", "storm", "logins")}
            flag = " †" if " †" in flags else " *" if " *" in flags else ""
            rows.append([
                run.labels[target] + flag, placement, f_num(s("idle", lat("p50")), 2), f_num(idle99, 2),
                f_num(s("storm", lat("p50")), 2), f_num(storm99, 2),
                f_ratio(storm99 / idle99 if idle99 and storm99 is not None else None),
                f_ratios(run.ratios(placement, key, "storm", target, "gin-real", lat("p99"))),
                f_num(s("logins", ok_rps), 1), f_num(s("logins", err("status"))), f_num(s("logins", err("timeout"))),
            ])
    return table(header, rows)


def startup_rows(run: Run) -> dict[tuple[str, str], dict[str, float | None]]:
    starts: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in run.doc["starts"]:
        starts[(s["placement"], s["target"])].append(s)
    out = {}
    for k, items in starts.items():
        after = [i["after_load"] for i in items if "after_load" in i]
        after_ping = [i["after_ping"] for i in items if "after_ping" in i]  # runs since 2026-12-08
        out[k] = {
            "startup_ms": median(i["startup_ms"] for i in items),
            "idle_pss": median(i["idle"]["pss_kib"] / 1024 for i in items),
            "idle_rss": median(i["idle"]["rss_kib"] / 1024 for i in items),
            "after_pss": median(a["pss_kib"] / 1024 for a in after),
            "after_rss": median(a["rss_kib"] / 1024 for a in after),
            "after_ping_pss": median(a["pss_kib"] / 1024 for a in after_ping) if after_ping else None,
            "processes": median(i["idle"]["processes"] for i in items),
            # Runs measured before PSS was split (before 2026-12-06) show "-".
            "idle_anon": _split(i["idle"] for i in items),
            "after_anon": _split(after),
        }
    return out


def _split(memories: Iterable[dict[str, Any]]) -> tuple[float, float] | None:
    """Median anonymous and file PSS in MiB, or None when they were not measured."""
    pairs = [(m["pss_anon_kib"] / 1024, m["pss_file_kib"] / 1024) for m in memories if m.get("pss_anon_kib")]
    if not pairs:
        return None
    return median(p[0] for p in pairs), median(p[1] for p in pairs)


def _split_cell(split: Any) -> str:
    return "-" if split is None else f"{split[0]:.1f} / {split[1]:.1f}"


def startup_table(run: Run) -> str:
    header = ["Server", "Placement", "start ms (exec → first 200)", "idle PSS MiB", "idle PSS anon / file MiB",
              "idle RSS MiB", "after /ping PSS MiB", "after load PSS MiB", "after load PSS anon / file MiB",
              "after load RSS MiB", "processes"]
    data = startup_rows(run)
    rows = []
    for placement in run.placements:
        for target in run.labels:
            d = data.get((placement, target))
            if d is None:
                continue
            rows.append([run.labels[target], placement, f_num(d["startup_ms"], 0), f_num(d["idle_pss"], 1),
                         _split_cell(d["idle_anon"]), f_num(d["idle_rss"], 1), f_num(d["after_ping_pss"], 1),
                         f_num(d["after_pss"], 1),
                         _split_cell(d["after_anon"]), f_num(d["after_rss"], 1), f_num(d["processes"])])
    return table(header, rows)


# -- charts ----------------------------------------------------------------------------------------------------

COLORS = {"pinned": "#4C72B0", "machine": "#DD8452"}


def _bars(run: Run, key: str, step: str, get: Callable[[dict[str, Any]], Any], xlabel: str, path: Path,
          title: str) -> None:
    targets = [t for t in run.labels if any(run.rounds(p, key, step, t) for p in run.placements)]
    if not targets:
        return
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.55 * len(targets) * len(run.placements)))
    height = 0.8 / len(run.placements)
    for i, placement in enumerate(run.placements):
        for j, target in enumerate(targets):
            values = [get(w) for w in run.rounds(placement, key, step, target).values()]
            values = [v for v in values if v is not None]
            if not values:
                continue
            mid = statistics.median(values)
            y = j + i * height
            ax.barh(y, mid, height, color=COLORS.get(placement, "grey"),
                    xerr=[[mid - min(values)], [max(values) - mid]], capsize=2,
                    label=placement if j == 0 else None)
            ax.text(mid, y, f" {mid:,.0f}" if mid >= 10 else f" {mid:,.2f}", va="center", fontsize=8)
    ax.set_yticks([j + height * (len(run.placements) - 1) / 2 for j in range(len(targets))])
    ax.set_yticklabels([run.labels[t] for t in targets], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel + " (median of rounds; whiskers: min-max)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ramp_chart(run: Run, key: str, path: Path, title: str) -> None:
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 4.2))
    styles = {"pinned": "-", "machine": "--"}
    colors = {t: plt.get_cmap("tab10")(i) for i, t in enumerate(run.labels)}
    all_steps: set[int] = set()
    for placement in run.placements:
        for target in run.labels:
            steps = [st for st in run.steps(key) if run.rounds(placement, key, st, target)]
            if not steps:
                continue
            xs = [int(st) for st in steps]
            all_steps.update(xs)
            style = {"linestyle": styles.get(placement, ":"), "marker": "o", "color": colors[target]}
            a1.plot(xs, [100 * run.stat(placement, key, st, target, lambda w: w["success_rate"]) for st in steps],
                    label=f"{run.labels[target]} ({placement})", **style)
            a2.plot(xs, [run.stat(placement, key, st, target, ok_rps) for st in steps], **style)
            a3.plot(xs, [run.stat(placement, key, st, target, lat("p99")) or float("nan") for st in steps], **style)
    a1.set_title("success rate % (status < 400 / attempts)")
    a1.set_ylim(0, 105)
    a2.set_title("ok req/s")
    a3.set_title("p99 ms of completed requests")
    a3.set_yscale("log")
    for a in (a1, a2, a3):
        a.set_xlabel("connections")
        a.set_xticks(sorted(all_steps))
    fig.suptitle(title, fontsize=10)
    fig.legend(loc="lower center", ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _storm_chart(run: Run, key: str, path: Path, title: str) -> None:
    placements = list(run.placements)
    fig, axes = plt.subplots(1, len(placements), figsize=(6 * len(placements), 3.2), squeeze=False)
    for ax, placement in zip(axes[0], placements, strict=True):
        targets = run.targets_in(placement, key, "storm")
        for j, target in enumerate(targets):
            for k, (step, shade) in enumerate((("idle", 0.45), ("storm", 1.0))):
                for i, pct in enumerate(("p50", "p99")):
                    value = run.stat(placement, key, step, target, lat(pct))
                    if value is None:
                        continue
                    x = j * 5 + k * 2 + i
                    ax.bar(x, value, color=COLORS.get(placement, "grey"), alpha=shade if i else shade * 0.6,
                           label=f"{pct} {step}" if j == 0 else None)
                    ax.text(x, value, f"{value:.1f}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks([j * 5 + 1.5 for j in range(len(targets))])
        ax.set_xticklabels([run.labels[t] for t in targets], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("/ping latency ms")
        ax.set_title(placement, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title + " (idle: no storm; median of rounds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _startup_chart(run: Run, path: Path) -> None:
    data = startup_rows(run)
    targets = [t for t in run.labels if any((p, t) in data for p in run.placements)]
    if not targets:
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.8 + 0.5 * len(targets) * len(run.placements)))
    height = 0.8 / len(run.placements)
    for ax, field, label in ((axes[0], "startup_ms", "start-up ms"), (axes[1], "idle_pss", "idle PSS MiB")):
        for i, placement in enumerate(run.placements):
            for j, target in enumerate(targets):
                value = data.get((placement, target), {}).get(field)
                if value is None:
                    continue
                ax.barh(j + i * height, value, height, color=COLORS.get(placement, "grey"),
                        label=placement if j == 0 else None)
                ax.text(value, j + i * height, f" {value:,.1f}", va="center", fontsize=8)
        ax.set_yticks([j + height * (len(run.placements) - 1) / 2 for j in range(len(targets))])
        ax.set_yticklabels([run.labels[t] for t in targets], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.legend(fontsize=8)
    fig.suptitle("8. Start-up time (exec → first 200) and resident memory (PSS, all processes)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the document ------------------------------------------------------------------------------------------------


def disturbance(doc: dict[str, Any]) -> str:
    others = [m["wrk"]["cpu"]["other"] for m in doc["measurements"] if m["wrk"].get("cpu")]
    if not others:
        return "- CPU used by other processes during measurements: not recorded"
    worst = max(others)
    verdict = ("**the machine was not quiet: figures are disturbed**" if statistics.median(others) > 0.1 or worst > 0.3
               else "the machine was quiet")
    rerun = len(doc.get("discarded", []))
    return (f"- CPU used by processes other than the server, PostgreSQL and wrk during measurements: median "
            f"{statistics.median(others):.2f} cores, max {worst:.2f} ({verdict}); {rerun} disturbed "
            "measurement(s) were run again (the disturbed ones are kept in the JSON under \"discarded\")")


def _heading(sc: dict[str, Any]) -> str:
    return f"{sc['number']}. {sc['title']}"


def markdown(run: Run, charts: dict[str, str]) -> str:
    doc, meta = run.doc, run.doc["meta"]
    out = [f"# authgate benchmark — {meta['date']} on {meta['host']}", ""]
    if doc["failures"]:
        out += ["## FAILURES", "", "These servers or scenarios did not answer correctly; their figures are missing.",
                ""]
        out += [f"- **{f['target']}** / {f['scenario']} ({f['placement']}, round {f['round'] + 1}): "
                f"`{f['error'].splitlines()[0][:300]}`" for f in doc["failures"]]
        out.append("")
    out += [
        f"- Machine: {meta['cpu']}, {meta['nproc']} cores, {meta['memory_gib']:.0f} GiB, kernel {meta['kernel']}",
        f"- authgate: repository at {meta['git_commit']}; command: `{meta['command']}`",
        f"- Mode: {'smoke (correctness only; figures meaningless)' if meta['smoke'] else 'full'}; "
        f"{meta['runs']} round(s) per placement, {meta['sizes']['duration_s']} s per measurement "
        f"(+{meta['sizes']['warmup_s']} s warm-up), wall time {meta['elapsed_s'] / 60:.1f} min",
        *[f"- Placement **{name}**: {p['describe']}" for name, p in run.placements.items()],
        f"- argon2id (m=19456 KiB, t=2, p=1), one hash: {f_num(doc['hash_cost'].get('argon2_cffi_ms'), 1)} ms "
        f"(argon2-cffi), {f_num(doc['hash_cost'].get('go_x_crypto_ms'), 1)} ms (Go x/crypto): the lower of the "
        "medians measured at the start and at the end of the run (the login table also divides each round by "
        "the hash measured on the server's CPUs just before and after it: \"beside\")",
        f"- Load average before / after: {meta['loadavg_before']} / {meta.get('loadavg_after', '?')}",
        disturbance(doc),
        f"- Versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        "",
        "Figures are medians over rounds; ratios (x X) are medians of per-round ratios to that Gin server "
        "measured in the same round. \"ok req/s\" counts responses with a status below 400; timeouts (wrk, "
        "2 s: a late response, or a connection still waiting, counted every 2 s), socket errors and answers "
        ">= 400 are listed beside them. Latency percentiles are wrk's (corrected for coordinated omission) "
        "and leave out responses later than 2 s. \"server cores\": CPU the server's processes used, "
        "on average, during the measurement. A row marked * leaves out rounds during which other processes "
        f"used more than {run.threshold} cores (disturbed; they stay in the JSON); a row marked † had only "
        "disturbed rounds. See bench/README.md, \"Reading the results\".",
        "",
    ]
    for sc in doc["scenarios"]:
        key = sc["key"]
        if not any(s == key for (_, s, _, _) in run.groups):
            continue
        out += [f"## {_heading(sc)}", ""]
        if key in SEED_CLAIMS:
            out += [f"> {SEED_CLAIMS[key]}", ""]
        builder = {"throughput": throughput_table, "login": login_table, "ramp": ramp_table,
                   "storm": storm_table}[sc["kind"]]
        out += [builder(run, sc), ""]
        if key in charts:
            out += [f"![{_heading(sc)}]({charts[key]})", ""]
    out += ["## 8. Start-up time and resident memory", "", f"> {SEED_CLAIMS['startup']}", "", startup_table(run), ""]
    if "startup" in charts:
        out += [f"![start-up and memory]({charts['startup']})", ""]
    return "\n".join(out)


def write(doc: dict[str, Any], out_dir: Path, stem: str) -> Path:
    """Write <stem>.json, <stem>.md and <stem>/<scenario>.png; return the Markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.json").write_text(json.dumps(doc, indent=1) + "\n")
    run = Run(doc)
    chart_dir = out_dir / stem
    chart_dir.mkdir(exist_ok=True)
    charts: dict[str, str] = {}
    for sc in doc["scenarios"]:
        key, path = sc["key"], chart_dir / f"{sc['key']}.png"
        if not any(s == key for (_, s, _, _) in run.groups):
            continue
        if sc["kind"] == "ramp":
            _ramp_chart(run, key, path, _heading(sc))
        elif sc["kind"] == "storm":
            _storm_chart(run, key, path, _heading(sc))
        elif sc["kind"] == "login":
            _bars(run, key, "", ok_rps, "logins/s", path, _heading(sc))
        else:
            _bars(run, key, "", ok_rps, "ok req/s", path, _heading(sc))
        if path.exists():
            charts[key] = f"{stem}/{path.name}"
    _startup_chart(run, chart_dir / "startup.png")
    if (chart_dir / "startup.png").exists():
        charts["startup"] = f"{stem}/startup.png"
    md = out_dir / f"{stem}.md"
    md.write_text(markdown(run, charts))
    return md


def main() -> None:
    """Re-render the report of a results JSON: python bench/report.py bench/results/<stem>.json"""
    import sys

    source = Path(sys.argv[1])
    print(write(json.loads(source.read_text()), source.parent, source.stem))


if __name__ == "__main__":
    main()
