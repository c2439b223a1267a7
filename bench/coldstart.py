"""Why a start after a pause is slower on a VM whose guest hands free memory back to its host.

Some VMs (Firecracker here: `dmesg` says "Free page reporting enabled") report blocks of memory that have stayed
free for about 2 s to their host, which takes them back; the guest's next touch of such a page faults in the host
too. Two measurements show what that does, both on CPU 0 (docs/benchmarks.md, "Twenty-first host"):

- fresh memory: the time to touch one page of a freshly mapped anonymous region, when the region freed before it
  was freed 0.1 s earlier, and when it was freed `--quiet` seconds earlier;
- start-up: `authgate serve` with one worker, exec to its first 200 (the bench's own start), interleaved three
  ways: after `--quiet` seconds of quiet; the same, with `--touch-mib` MiB touched and freed just before the start
  (memory the host has handed back again); and 0.5 s after the previous start stopped.

`python bench/coldstart.py --rounds 3 --quiet 20` prints the figures and their medians; it makes a database of its
own (PostgreSQL, as the bench) and drops it afterwards.
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import tempfile
import time
from pathlib import Path

import servers
import targets

PAGE = mmap.PAGESIZE
PROBE_MIB = 64
NEXT_START_S = 0.5


def touch(mib: int) -> float:
    """Maps `mib` MiB of anonymous memory, writes one byte a page, unmaps it: microseconds a page."""
    size = mib << 20
    region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        started = time.perf_counter()
        for offset in range(0, size, PAGE):
            region[offset] = 1
        return (time.perf_counter() - started) / (size // PAGE) * 1e6
    finally:
        region.close()


def fresh_memory(quiet_s: float, rounds: int) -> dict[str, list[float]]:
    """Microseconds a fresh page, after the previous region stayed free 0.1 s or `quiet_s`."""
    waits = (quiet_s, 0.1)  # the quiet one first: the 0.1 s one then follows a region just freed
    found: dict[str, list[float]] = {f"{wait:g} s": [] for wait in waits}
    touch(PROBE_MIB)
    for _ in range(rounds):
        for wait in waits:
            time.sleep(wait)
            found[f"{wait:g} s"].append(touch(PROBE_MIB))
    return found


def starts(quiet_s: float, touch_mib: int, rounds: int) -> dict[str, list[float]]:
    """Start-up milliseconds of one authgate worker on CPU 0, three ways, interleaved."""
    placement = targets.placements(1)["pinned"]
    target = targets.Authgate()
    ways = (f"after {quiet_s:g} s quiet", f"after {quiet_s:g} s quiet, {touch_mib} MiB touched first",
            f"{NEXT_START_S:g} s after the previous")
    found: dict[str, list[float]] = {way: [] for way in ways}
    try:
        target.prepare(placement, {})
        with tempfile.TemporaryDirectory(prefix="authgate-coldstart-") as tmp:
            for _ in range(rounds):
                for way in ways:
                    time.sleep(NEXT_START_S if way == ways[2] else quiet_s)
                    if way == ways[1]:
                        touch(touch_mib)
                    port = servers.free_port()
                    server = servers.start(target.name, target.launch(placement, port, {}), port,
                                           Path(tmp) / "server.log", cpus=placement.server_cpus)
                    server.stop()
                    found[way].append(server.startup_s * 1000)
    finally:
        target.cleanup()
    return found


def show(title: str, unit: str, found: dict[str, list[float]]) -> None:
    print(title)
    for label, values in found.items():
        listed = " ".join(f"{v:.1f}" for v in values)
        print(f"  {label:40} median {statistics.median(values):7.1f} {unit}   ({listed})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=20.0, help="seconds of quiet before a cold start")
    parser.add_argument("--touch-mib", type=int, default=256, help="MiB touched and freed before a warmed start")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    show(f"fresh anonymous memory ({PROBE_MIB} MiB), by how long the memory before it stayed free:", "µs a page",
         fresh_memory(args.quiet, args.rounds))
    show("authgate serve, one worker on CPU 0, exec to the first 200:", "ms",
         starts(args.quiet, args.touch_mib, args.rounds))


if __name__ == "__main__":
    main()
