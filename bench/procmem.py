"""Resident memory of a process and all its descendants (gunicorn's arbiter and workers, granian's, ...).

PSS (proportional set size) splits each shared page between the processes that map it, so forked workers
are not counted twice; RSS is summed too, for comparison with figures such as the seed's. PSS is also split in
two (Linux 5.x and later): anonymous memory, what the processes allocated (heaps, Python's objects, the Rust
allocator's arenas), and file pages, the mapped code of the interpreter and of compiled libraries, which the
kernel can drop and read again and which every process that maps the same file shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Memory:
    pss_kib: int
    rss_kib: int
    processes: int
    pss_anon_kib: int = 0
    pss_file_kib: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"pss_kib": self.pss_kib, "rss_kib": self.rss_kib, "processes": self.processes,
                "pss_anon_kib": self.pss_anon_kib, "pss_file_kib": self.pss_file_kib}


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, found through /proc/<pid>/task/<tid>/children."""
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        try:
            tasks = list((PROC / str(current) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                stack.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def _rollup(pid: int) -> tuple[int, int, int, int] | None:
    """(pss, rss, anonymous pss, file pss) in KiB from /proc/<pid>/smaps_rollup, or None when the process is
    gone; the last two are 0 on a kernel that does not split PSS."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Pss", "Rss", "Pss_Anon", "Pss_File"):
            values[key] = int(rest.split()[0])
    return values.get("Pss", 0), values.get("Rss", 0), values.get("Pss_Anon", 0), values.get("Pss_File", 0)


def tree_memory(pid: int) -> Memory:
    pss = rss = anon = file = count = 0
    for member in descendants(pid):
        rollup = _rollup(member)
        if rollup is None:
            continue
        pss += rollup[0]
        rss += rollup[1]
        anon += rollup[2]
        file += rollup[3]
        count += 1
    return Memory(pss_kib=pss, rss_kib=rss, processes=count, pss_anon_kib=anon, pss_file_kib=file)
