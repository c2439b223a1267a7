"""Who used the CPUs during a measurement: the server (all its processes), PostgreSQL, wrk, and everything
else. "Other" is what this machine did besides the benchmark; when it is not near zero, the figures of that
measurement were disturbed, and the report says so.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

from procmem import descendants

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK")


def _busy_ticks() -> int:
    fields = [int(x) for x in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle


def _process_ticks(pid: int) -> int:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def _postgres_ticks() -> int:
    total = 0
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += _process_ticks(int(entry.name))
            except OSError:
                continue
    return total


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Snapshot:
    at: float
    machine: int
    server: int
    postgres: int
    children_s: float
    load: int


def snapshot(server_pid: int, load_pids: tuple[int, ...] = ()) -> Snapshot:
    """`load_pids`: load generators still running (a background storm); finished ones count by rusage."""
    server = sum(_process_ticks(p) for p in descendants(server_pid))
    load = sum(_process_ticks(p) for p in load_pids)
    return Snapshot(time.monotonic(), _busy_ticks(), server, _postgres_ticks(), _children_seconds(), load)


def cores_used(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """Average cores used between two snapshots, by whom. wrk is counted when it has exited (waited for)."""
    seconds = after.at - before.at
    if seconds <= 0:
        return {}
    machine = (after.machine - before.machine) / TICK / seconds
    server = (after.server - before.server) / TICK / seconds
    postgres = (after.postgres - before.postgres) / TICK / seconds
    load = (after.children_s - before.children_s) / seconds + (after.load - before.load) / TICK / seconds
    return {
        "machine": round(machine, 3), "server": round(server, 3), "postgres": round(postgres, 3),
        "wrk": round(load, 3), "other": round(max(0.0, machine - server - postgres - load), 3),
    }


def wait_quiet(
    server_pid: int, max_wait_s: float, threshold: float = 0.15, sample_s: float = 0.5, who: str = "other"
) -> float:
    """Wait (up to `max_wait_s`) until other processes (`who="server"`: the server) use less than `threshold`
    cores; the seconds waited."""
    started = time.monotonic()
    while True:
        before = snapshot(server_pid)
        time.sleep(sample_s)
        if cores_used(before, snapshot(server_pid)).get(who, 0.0) < threshold:
            return time.monotonic() - started
        if time.monotonic() - started > max_wait_s:
            return time.monotonic() - started
