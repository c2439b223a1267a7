"""authgate's benchmark: authgate against the seed's Flask, FastAPI and Gin, on this machine, in one run.

    python bench/run.py            # full run (about 40 minutes on 2 cores), results in bench/results/
    python bench/run.py --smoke    # every scenario for about a second: checks answers, not speed

Installs what is missing first (bench/setup.sh), builds the Gin servers offline, measures the cost of one
argon2id hash, then runs the rounds and writes <date>-<host>.json / .md and one PNG per scenario.
Exits non-zero when any server or scenario failed (failures are also listed at the top of the report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
BUILD = BENCH / ".build"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="about 1 s per scenario, 1 round, small connection counts")
    p.add_argument("--runs", type=int, help="rounds per placement (default 3; smoke 1)")
    p.add_argument("--duration", type=int, help="seconds per measurement (default 8; smoke 1)")
    p.add_argument("--placements", default="pinned,machine", help="pinned, machine or both (default both)")
    p.add_argument(
        "--targets",
        help="comma-separated subset of: flask, fastapi, granian-raw, gin-new, gin-default, gin-real, authgate,"
        " authgate-nocache, authgate-nolog, authgate-sampled",
    )
    p.add_argument("--scenarios", help="comma-separated subset of scenario keys (see bench/README.md)")
    p.add_argument(
        "--out", type=Path, help="results directory (default bench/results; smoke: bench/.build/smoke-results)"
    )
    p.add_argument("--no-setup", action="store_true", help="do not run bench/setup.sh first")
    return p.parse_args(argv)


def setup() -> None:
    subprocess.run(["bash", str(BENCH / "setup.sh"), sys.executable], check=True)


def compile_authgate() -> None:
    """Write the bytecode of authgate's modules, as installing its wheel does (pip compiles on install).

    From an editable install, with PYTHONDONTWRITEBYTECODE=1 (set on these machines), every start compiled
    about a hundred modules from source again: 221 ms exec to first 200 instead of 149 on 2026-12-06. The
    start-up scenario measures a deployment, which loads bytecode."""
    import importlib.util

    spec = importlib.util.find_spec("authgate")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            subprocess.run([sys.executable, "-m", "compileall", "-q", location], check=True, stdout=subprocess.DEVNULL)


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _pkg(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _deb(name: str) -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "not installed"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git_commit() -> str:
    """HEAD, with "+dirty" when authgate's sources differ from it (then HEAD is not exactly what ran)."""
    head = subprocess.run(["git", "-C", str(BENCH), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(BENCH.parent), "status", "--porcelain", "--", "src"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return head + ("+dirty" if dirty else "")


def other_cpu_now(seconds: float = 2.0) -> float:
    """Cores busy before anything of ours runs: a loaded machine gives disturbed figures."""
    import cpuwatch

    before = cpuwatch.snapshot(os.getpid())
    time.sleep(seconds)
    return cpuwatch.cores_used(before, cpuwatch.snapshot(os.getpid())).get("other", 0.0)


def machine_meta() -> dict[str, Any]:
    import gobuild
    import pg
    import wrk

    mem_kib = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
                  .split()[1])
    return {
        "host": socket.gethostname(), "cpu": _cpu_model(), "nproc": os.cpu_count(), "memory_gib": mem_kib / 2**20,
        "kernel": platform.release(), "loadavg_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "git_commit": _git_commit(), "command": " ".join(sys.argv),
        "versions": {
            "python": platform.python_version(), "interpreter": os.path.realpath(sys.executable),
            "authgate": _pkg("authgate"), "granian": _pkg("granian"),
            "flask": _pkg("flask"), "gunicorn": _pkg("gunicorn"), "gevent": _pkg("gevent"),
            "fastapi": _pkg("fastapi"), "uvicorn": _pkg("uvicorn"),
            "go": gobuild.go_version().removeprefix("go version "),
            "gin": _deb("golang-github-gin-gonic-gin-dev"), "golang-jwt": _deb("golang-github-golang-jwt-jwt-dev"),
            "pgx": _deb("golang-github-jackc-pgx-v4-dev"), "wrk": wrk.version(), "postgresql": pg.server_version(),
        },
    }


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the runner's finally blocks: servers stopped, databases dropped


def measure_hash_cost(gin_real: Path, samples: int, quiet_wait_s: int) -> dict[str, float]:
    import cpuwatch
    import hashcost

    if quiet_wait_s:
        cpuwatch.wait_quiet(os.getpid(), quiet_wait_s)
    return hashcost.measure(gin_real, samples)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _terminated)
    args = parse_args(argv)
    if not args.no_setup:
        setup()
    compile_authgate()
    raise_open_files_limit()

    import gobuild
    import hashcost
    import report
    import runner
    from scenarios import DISTURBED, FULL, SCENARIOS, SMOKE
    from targets import all_targets, placements

    base = SMOKE if args.smoke else FULL
    sizes = base.__class__(**{**base.__dict__, **({"duration_s": args.duration} if args.duration else {})})
    runs = args.runs or (1 if args.smoke else 3)
    nproc = os.cpu_count() or 1
    available = placements(nproc)
    chosen = [available[name] for name in args.placements.split(",") if name]
    if nproc < 2 and any(p.name == "pinned" for p in chosen):
        print("the pinned placement needs 2 CPUs (server on CPU 0, wrk on CPU 1); running the whole machine only")
        chosen = [p for p in chosen if p.name != "pinned"]
    targets = all_targets()
    if args.targets:
        wanted = args.targets.split(",")
        unknown = set(wanted) - {t.name for t in targets}
        if unknown:
            raise SystemExit(f"unknown target(s): {', '.join(sorted(unknown))}")
        targets = [t for t in targets if t.name in wanted]
    scenarios = SCENARIOS
    if args.scenarios:
        wanted = args.scenarios.split(",")
        unknown = set(wanted) - {s.key for s in SCENARIOS}
        if unknown:
            raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        scenarios = [s for s in SCENARIOS if s.key in wanted]

    busy = other_cpu_now()
    if busy > 0.1:
        print(f"WARNING: other processes keep {busy:.2f} cores busy; the figures will be disturbed", flush=True)
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    meta = {"date": now.strftime("%Y-%m-%d %H:%M UTC"), "smoke": args.smoke, "runs": runs,
            "sizes": sizes.__dict__ | {"ramp": list(sizes.ramp)}, "busy_cores_before": busy,
            "disturbed_threshold": DISTURBED, **machine_meta()}
    print(f"bench: {len(targets)} servers, {len(scenarios)} scenarios, {runs} round(s) x "
          f"{', '.join(p.name for p in chosen)}; building the Gin servers offline", flush=True)
    binaries = gobuild.build_all()
    hash_start = measure_hash_cost(binaries["gin-real"], sizes.hash_samples, sizes.quiet_wait_s)
    print(f"argon2id one hash: {hash_start['argon2_cffi_ms']:.1f} ms (argon2-cffi), "
          f"{hash_start['go_x_crypto_ms']:.1f} ms (Go)", flush=True)

    rec = runner.run_all(targets, chosen, scenarios, sizes, runs, binaries, BUILD)

    # Once more at the end; the lower median of the two is the cost on an undisturbed core.
    hash_end = measure_hash_cost(binaries["gin-real"], sizes.hash_samples, sizes.quiet_wait_s)
    hash_cost: dict[str, Any] = {k: min(hash_start[k], hash_end[k]) for k in hash_start}
    hash_cost |= {"at_start": hash_start, "at_end": hash_end,
                  "keycloak_logins_per_vcpu": hashcost.KEYCLOAK_LOGINS_PER_VCPU,
                  "keycloak_source": hashcost.KEYCLOAK_SOURCE}

    meta["elapsed_s"] = time.monotonic() - started
    meta["loadavg_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    doc = {
        "meta": meta, "hash_cost": hash_cost,
        "placements": {p.name: {"describe": p.describe(), "cores": p.cores, "server_cpus": p.server_cpus,
                                "load_cpus": p.load_cpus, "wrk_threads": p.wrk_threads} for p in chosen},
        "targets": {t.name: t.label for t in targets},
        "scenarios": [{"key": s.key, "number": s.number, "title": s.title, "kind": s.kind,
                       "baselines": list(s.baselines)} for s in scenarios],
        "measurements": rec.measurements, "starts": rec.starts, "failures": rec.failures,
        "discarded": rec.discarded,
    }
    out = args.out or (BUILD / "smoke-results" if args.smoke else BENCH / "results")
    stem = f"{now:%Y-%m-%d}-{meta['host']}"
    if not args.smoke and (out / f"{stem}.json").exists():
        stem += f"-{now:%H%M}"
    md = report.write(doc, out, stem)
    print(f"\nreport: {md}\nraw:    {md.with_suffix('.json')}\nelapsed: {meta['elapsed_s'] / 60:.1f} min")
    if rec.failures:
        print(f"\n{len(rec.failures)} FAILURE(S):", file=sys.stderr)
        for f in rec.failures:
            print(f"  {f['target']} / {f['scenario']} ({f['placement']}): {f['error'].splitlines()[0]}",
                  file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
