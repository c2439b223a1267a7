"""The memory of every process of a live server, sampled through a run, and its trend by least squares.

Three figures per process from /proc/<pid>/smaps_rollup: RSS; PSS (proportional set size: a page shared by
several processes counts as its share in each, so the figures add up); and the anonymous part of PSS (heap and
anonymous mappings, where a leak shows). Granian's workers are started afresh, not forked, so they share only
file-backed pages (the interpreter, the libraries), and the file-backed part of PSS moves whenever any other
process of the same virtualenv starts or stops mapping those files: the anonymous part is the one that is the
process's own doing. A process that appears later (a replaced worker) gets its own series.
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


def memory_kib(pid: int) -> tuple[int, int, int] | None:
    """(PSS, RSS, anonymous part of PSS) in KiB, or None when the process is gone."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Pss", "Rss", "Pss_Anon"):
            values[key] = int(rest.split()[0])
    return values.get("Pss", 0), values.get("Rss", 0), values.get("Pss_Anon", 0)


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
    points: list[tuple[float, float, float, float]] = field(default_factory=list)
    """(monotonic time, PSS MiB, RSS MiB, anonymous PSS MiB)"""


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
            series.points.append((now, measured[0] / 1024, measured[1] / 1024, measured[2] / 1024))

    async def run(self, until: asyncio.Event) -> None:
        while not until.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), self.every)
        self.sample()

    def series_every(self, seconds: float, since: float) -> dict[str, list[tuple[float, float, float]]]:
        """Per process, (seconds since `since`, PSS MiB, anonymous MiB) about every `seconds`: the curves."""
        curves: dict[str, list[tuple[float, float, float]]] = {}
        for series in self.series.values():
            kept: list[tuple[float, float, float]] = []
            for t, pss, _, anon in series.points:
                if not kept or t - since - kept[-1][0] >= seconds:
                    kept.append((round(t - since, 1), round(pss, 1), round(anon, 1)))
            curves[series.role] = kept
        return curves

    def report(self, after: float) -> list[dict[str, object]]:
        """Per process: samples, the figures at the start and the end of the window of samples taken at or after
        `after` (monotonic), and the least-squares slope of each over it, in MiB per minute."""
        rows: list[dict[str, object]] = []
        for series in self.series.values():
            window = [p for p in series.points if p[0] >= after]
            if len(window) < 3:
                continue
            row: dict[str, object] = {
                "process": series.role,
                "pid": series.pid,
                "samples": len(window),
                "minutes": round((window[-1][0] - window[0][0]) / 60, 2),
            }
            for index, name in ((1, "pss"), (2, "rss"), (3, "anon")):
                row[f"{name}_first_mib"] = round(window[0][index], 1)
                row[f"{name}_last_mib"] = round(window[-1][index], 1)
                row[f"{name}_slope_mib_per_min"] = round(slope_per_minute([(p[0], p[index]) for p in window]), 3)
            rows.append(row)
        return rows
