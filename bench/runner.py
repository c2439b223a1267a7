"""Runs the rounds: per placement, `runs` rounds, each starting every server in turn (the order rotating
from round to round, so that runs of different servers interleave) and running its scenarios.

Nothing is skipped silently: a server that fails to start, answers wrongly or dies is recorded as a failure
with the reason and its log, and the run goes on with the next server; `failures` makes the exit status.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cpuwatch
import fixtures
import servers
from httpclient import CheckFailed
from scenarios import DISTURBED, Context, Result, Scenario, Sizes
from targets import Placement, Target
from wrk import WrkResult


@dataclass
class Recorder:
    measurements: list[dict[str, Any]] = field(default_factory=list)
    starts: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    discarded: list[dict[str, Any]] = field(default_factory=list)
    """Measurements disturbed by other processes and run again (kept for the record)."""
    quiet_budget_s: float = 0.0
    """What is left of the time the run may spend waiting for a quiet machine and re-running."""

    def fail(self, where: dict[str, Any], scenario: str, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"
        self.failures.append({**where, "scenario": scenario, "error": error})
        say(f"  FAILED {where['target']} {scenario}: {error}")
        if not isinstance(exc, servers.ServerFailed | AssertionError) and os.environ.get("BENCH_TRACEBACK"):
            traceback.print_exception(exc)


def say(text: str) -> None:
    print(text, flush=True)


@contextmanager
def pinned_to(cpus: str | None) -> Iterator[None]:
    """Run this process (checks, fixtures, readiness polling) on the load generator's CPUs."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _summary(result: Any) -> str:
    lat = result.latency_us
    p99 = f"p99 {lat['p99'] / 1000:.1f} ms" if lat else "no responses"
    errors = ", ".join(f"{k} {v}" for k, v in result.errors.items() if v) or "no errors"
    cpu = result.cpu
    used = f", cores: server {cpu['server']:.2f} wrk {cpu['wrk']:.2f} other {cpu['other']:.2f}" if cpu else ""
    return f"{result.ok_rps:,.0f} ok req/s, {p99}, {errors}{used}"


def run_target(
    target: Target, placement: Placement, round_no: int, scenarios: list[Scenario], sizes: Sizes,
    binaries: dict[str, Path], build: Path, rec: Recorder,
) -> None:
    where = {"placement": placement.name, "round": round_no, "target": target.name}
    try:
        target.prepare(placement, binaries)
    except Exception as exc:
        rec.fail(where, "start", exc)
        target.cleanup()
        return
    try:
        port = servers.free_port()
        log = build / "logs" / f"{target.name}-{placement.name}.log"
        try:
            server = servers.start(
                target.name, target.launch(placement, port, binaries), port, log, cpus=placement.server_cpus
            )
        except Exception as exc:
            rec.fail(where, "start", exc)
            return
        try:
            _run_scenarios(target, placement, server, scenarios, sizes, build, rec, where)
        finally:
            server.stop()
    finally:
        target.cleanup()


def _run_scenarios(
    target: Target, placement: Placement, server: servers.RunningServer, scenarios: list[Scenario],
    sizes: Sizes, build: Path, rec: Recorder, where: dict[str, Any],
) -> None:
    time.sleep(1)
    start = {**where, "startup_ms": server.startup_s * 1000, "idle": server.memory().as_dict()}
    say(f"  {target.name}: up in {server.startup_s * 1000:.0f} ms, idle PSS {start['idle']['pss_kib'] / 1024:.1f} MiB")
    rec.starts.append(start)
    ctx = Context(target, server.port, server.process.pid, placement, sizes, build)
    registered = False
    for scenario in scenarios:
        if not scenario.applies(target) or (target.only is not None and scenario.key not in target.only):
            continue
        if scenario.needs_users and not registered:
            registered = True
            try:
                fixtures.register_users(server.port, sizes.seeded_users)
            except Exception as exc:
                rec.fail(where, "fixtures", exc)
        try:
            results = _run_quietly(scenario, ctx, server.process.pid, sizes, rec, where)
        except Exception as exc:
            rec.fail(where, scenario.key, exc)
            if not server.alive():
                rec.fail(where, "server", servers.ServerFailed(f"died during {scenario.key}:\n{server.log_tail()}"))
                return
            continue
        if scenario.key == "ping":  # issue #10's memory figure: after the /ping run
            start["after_ping"] = server.memory().as_dict()
        for step, result in results.items():
            rec.measurements.append({**where, "scenario": scenario.key, "step": step, "wrk": result.as_dict()})
            say(f"  {target.name} {scenario.key}{' ' + step if step else ''}: {_summary(result)}")
            problem = _wrong_under_load(scenario, step, result, sizes)
            if problem:
                rec.fail(where, scenario.key, CheckFailed(problem))
        if not server.alive():
            rec.fail(where, "server", servers.ServerFailed(f"died during {scenario.key}:\n{server.log_tail()}"))
            return
    start["after_load"] = server.memory().as_dict()


def _wrong_under_load(scenario: Scenario, step: str, result: WrkResult, sizes: Sizes) -> str | None:
    """A server that answered its check but not the load: no success at all, or (strict sizes) any answer
    >= 400 outside the login storm, which may shed with 503 by design."""
    name = f"{scenario.key}{' ' + step if step else ''}"
    if result.ok == 0:
        return f"{name}: no successful response under load ({result.errors})"
    if sizes.strict and result.errors["status"] and scenario.kind != "storm":
        return f"{name}: {result.errors['status']} answers >= 400 under the smoke load"
    return None


def _disturbance(results: Result) -> float:
    return max((r.cpu.get("other", 0.0) for r in results.values()), default=0.0)


def _run_quietly(
    scenario: Scenario, ctx: Context, server_pid: int, sizes: Sizes, rec: Recorder, where: dict[str, Any]
) -> Result:
    """Run a scenario when the machine is quiet; run it once more if other processes disturbed it.

    Waiting and re-running draw on a budget for the whole run, so that a machine that stays busy makes the
    run disturbed (and says so), not endless.
    """
    if rec.quiet_budget_s <= 0:
        return scenario.run(ctx)
    waited = cpuwatch.wait_quiet(server_pid, min(sizes.quiet_wait_s, rec.quiet_budget_s))
    rec.quiet_budget_s -= waited
    if waited > 1:
        say(f"  (waited {waited:.0f} s for other processes to leave the CPUs)")
    started = time.monotonic()
    results = scenario.run(ctx)
    other = _disturbance(results)
    if other <= DISTURBED or rec.quiet_budget_s <= 0:
        return results
    say(f"  {where['target']} {scenario.key}: other processes used {other:.2f} cores; running it again")
    for step, result in results.items():
        rec.discarded.append({**where, "scenario": scenario.key, "step": step, "wrk": result.as_dict()})
    rec.quiet_budget_s -= time.monotonic() - started
    rec.quiet_budget_s -= cpuwatch.wait_quiet(server_pid, min(sizes.quiet_wait_s, max(0.0, rec.quiet_budget_s)))
    return scenario.run(ctx)


def run_all(
    targets: list[Target], placements: list[Placement], scenarios: list[Scenario], sizes: Sizes, runs: int,
    binaries: dict[str, Path], build: Path,
) -> Recorder:
    rec = Recorder(quiet_budget_s=sizes.quiet_budget_s)
    for placement in placements:
        with pinned_to(placement.load_cpus):
            for round_no in range(runs):
                shift = round_no % len(targets)
                order = targets[shift:] + targets[:shift]
                say(f"[{placement.name}] round {round_no + 1}/{runs}: {', '.join(t.name for t in order)}")
                for target in order:
                    run_target(target, placement, round_no, scenarios, sizes, binaries, build, rec)
    return rec
