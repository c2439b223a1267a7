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


def _cpu_ticks() -> tuple[int, int]:
    """(ticks spent in tasks, including the hypervisor's steal; ticks spent in interrupts) over all CPUs."""
    fields = [int(x) for x in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields + [0] * (8 - len(fields))
    return user + nice + system + steal, irq + softirq


def _processes() -> dict[int, tuple[str, int]]:
    """Every process: its name and its ticks (user + system)."""
    found: dict[int, tuple[str, int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1 :].rsplit(")", 1)
            fields = rest.split()
            found[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))
    return found


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Snapshot:
    at: float
    machine: int
    interrupts: int
    server: int
    postgres: int
    children_s: float
    load: int
    others: dict[int, int]
    """Ticks of each process neither this benchmark started nor PostgreSQL's."""


def snapshot(server_pid: int, load_pids: tuple[int, ...] = ()) -> Snapshot:
    """`load_pids`: load generators still running (a background storm); finished ones count by rusage."""
    processes = _processes()
    machine, interrupts = _cpu_ticks()
    ticks = {pid: t for pid, (_, t) in processes.items()}
    ours = set(descendants(os.getpid()))
    return Snapshot(
        at=time.monotonic(),
        machine=machine,
        interrupts=interrupts,
        server=sum(ticks.get(p, 0) for p in descendants(server_pid)),
        postgres=sum(t for name, t in processes.values() if name == "postgres"),
        children_s=_children_seconds(),
        load=sum(ticks.get(p, 0) for p in load_pids),
        others={pid: t for pid, (name, t) in processes.items() if pid not in ours and name != "postgres"},
    )


def cores_used(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """Average cores used between two snapshots, by whom. wrk is counted when it has exited (waited for).

    "other" is the larger of two lower bounds. The sum over the other processes misses those that exited in
    between. The machine's task time less the server's, PostgreSQL's and wrk's misses nothing, but the kernel
    charges interrupts to whichever task they interrupt, so it comes out low by the loopback traffic handled
    while the server or wrk ran. The machine's interrupt time itself is left out of both and shown apart:
    on this benchmark it is mostly that traffic, and much of it is handled while a CPU idles and charged to no
    process (with raw Granian at 75,000 req/s, 0.2-0.27 cores, which used to flag its measurements as
    disturbed)."""
    seconds = after.at - before.at
    if seconds <= 0:
        return {}

    def cores(ticks: float) -> float:
        return ticks / TICK / seconds

    machine = cores(after.machine - before.machine)
    server = cores(after.server - before.server)
    postgres = cores(after.postgres - before.postgres)
    load = (after.children_s - before.children_s) / seconds + cores(after.load - before.load)
    others = cores(sum(t - before.others.get(pid, 0) for pid, t in after.others.items()))
    return {
        "machine": round(machine, 3), "server": round(server, 3), "postgres": round(postgres, 3),
        "wrk": round(load, 3), "other": round(max(0.0, others, machine - server - postgres - load), 3),
        "interrupts": round(cores(after.interrupts - before.interrupts), 3),
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
