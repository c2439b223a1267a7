"""The memory of every process of a live server, sampled through a run, and its trend by least squares.

PSS (proportional set size, /proc/<pid>/smaps_rollup) counts a page shared by the main process and the workers
once over all of them, so the figures add up; RSS is kept too. A process that appears later (a replaced worker)
gets its own series.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def memory_kib(pid: int) -> tuple[int, int] | None:
    """(PSS, RSS) in KiB, or None when the process is gone."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Pss", "Rss"):
            values[key] = int(rest.split()[0])
    return values.get("Pss", 0), values.get("Rss", 0)


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per minute."""
    n = len(points)
    if n < 3:
        return float("nan")
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in points)
    return cov / var * 60 if var else float("nan")


@dataclass
class Series:
    pid: int
    role: str
    points: list[tuple[float, float, float]] = field(default_factory=list)
    """(monotonic time, PSS MiB, RSS MiB)"""


class MemoryWatch:
    """Samples the server process `root` and its children (the workers) every `every` seconds."""

    def __init__(self, root: int, every: float = 1.0) -> None:
        self.root = root
        self.every = every
        self.series: dict[int, Series] = {}
        self._workers = 0

    def sample(self) -> None:
        now = time.monotonic()
        for pid in [self.root, *children(self.root)]:
            measured = memory_kib(pid)
            if measured is None:
                continue
            series = self.series.get(pid)
            if series is None:
                if pid == self.root:
                    role = "main"
                else:
                    self._workers += 1
                    role = f"worker {self._workers}"
                series = self.series[pid] = Series(pid, role)
            series.points.append((now, measured[0] / 1024, measured[1] / 1024))

    async def run(self, until: asyncio.Event) -> None:
        while not until.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), self.every)
        self.sample()

    def report(self, after: float) -> list[dict[str, object]]:
        """Per process: samples, PSS and RSS at the start of the window and at the end, and the slopes of both
        over the samples taken at or after `after` (monotonic), in MiB per minute."""
        rows: list[dict[str, object]] = []
        for series in self.series.values():
            window = [p for p in series.points if p[0] >= after]
            if len(window) < 3:
                continue
            rows.append(
                {
                    "process": series.role,
                    "pid": series.pid,
                    "samples": len(window),
                    "minutes": round((window[-1][0] - window[0][0]) / 60, 2),
                    "pss_first_mib": round(window[0][1], 1),
                    "pss_last_mib": round(window[-1][1], 1),
                    "pss_max_mib": round(max(p[1] for p in window), 1),
                    "pss_slope_mib_per_min": round(slope_per_minute([(p[0], p[1]) for p in window]), 3),
                    "rss_slope_mib_per_min": round(slope_per_minute([(p[0], p[2]) for p in window]), 3),
                }
            )
        return rows
