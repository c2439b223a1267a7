"""Instructions per request, counted by callgrind: a figure that does not move with the host's noise.

    python bench/instructions.py [--targets authgate,authgate-nolog,granian-raw] [--scenario ping|me|io]
                                 [--requests 2000] [--connections 1] [--rounds 3]

Each server runs under `valgrind --tool=callgrind` (with every process it forks or execs) and serves a warm-up.
Then, `--rounds` times, its counters are zeroed, `--requests` GETs arrive over `--connections` keep-alive
connections, and the counters are dumped. The figure is the instructions all of its processes executed in user
space, divided by the requests. One connection (the default) sends one request at a time, so every request
costs the server a whole turn of its event loop, and the count repeats within about 2% from run to run; over
several connections the server batches requests as the timing falls, and runs differed by up to 7%. Throughput
rounds on the same host differed by up to 4x: use this to compare two versions of the request path.

It is not time. A cache miss or a system call costs one instruction here, the kernel's work is not counted, and
Go's instructions are not Python's: compare a server with itself, or servers of one runtime, and leave speed to
`make bench`. The `me` scenario logs in once and sends that one token on every connection. The `io` scenario
asks for each server's 10 ms I/O endpoint: over many connections, the requests wait together, as in `make
bench`'s ramp.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fixtures
from procmem import descendants
from servers import Launch, RunningServer, free_port, start
from targets import Target, all_targets, placements

SCENARIOS = ("ping", "me", "io")


def scenario_path(target: Target, scenario: str) -> str:
    if scenario == "me":
        return "/auth/me"
    if scenario == "io" and target.io_path is not None:  # main() refuses targets without one
        return target.io_path
    return "/ping"


async def _client(port: int, request: bytes, count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"expected 200, got {status}: {head[:200]!r}")
    finally:
        writer.close()


def send(port: int, path: str, headers: dict[str, str], requests: int, connections: int) -> int:
    """`requests` GETs (rounded down to a multiple of `connections`), every connection one after another; the
    number sent."""
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()
    each = max(1, requests // connections)

    async def all_clients() -> None:
        await asyncio.gather(*(_client(port, request, each) for _ in range(connections)))

    asyncio.run(all_clients())
    return each * connections


class Counters:
    """callgrind's counters of every process of one server."""

    def __init__(self, server: RunningServer, out_dir: Path) -> None:
        self.server = server
        self.out_dir = out_dir

    def _control(self, option: str) -> list[int]:
        pids = descendants(self.server.process.pid)
        for pid in pids:
            subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)
        return pids

    def zero(self) -> None:
        self._control("-z")

    def dump(self) -> int:
        """Dump every process's counters; their sum since the last `zero`."""
        total = 0
        for pid in self._control("-d"):
            dumps = sorted(self.out_dir.glob(f"cg.{pid}.*"), key=lambda p: int(p.suffix[1:]))
            if not dumps:
                continue
            for line in dumps[-1].read_text().splitlines():
                if line.startswith("totals:"):
                    total += int(line.split()[1])
        return total


def under_callgrind(launch: Launch, out_dir: Path) -> Launch:
    argv = ("valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out_dir}/cg.%p")
    return Launch((*argv, *launch.argv), launch.env, launch.cwd)


def measure(target: Target, scenario: str, requests: int, connections: int, rounds: int) -> list[float]:
    placement = placements(2)["pinned"]
    binaries: dict[str, Path] = {}
    if target.name.startswith("gin"):
        import gobuild

        binaries = gobuild.build_all()
    target.prepare(placement, binaries)
    out_dir = Path(tempfile.mkdtemp(prefix=f"callgrind-{target.name}-"))
    try:
        port = free_port()
        launch = under_callgrind(target.launch(placement, port, binaries), out_dir)
        server = start(target.name, launch, port, out_dir / "server.log", cpus=None, ready_timeout=300)
        try:
            headers: dict[str, str] = {}
            if scenario == "me":
                headers["authorization"] = f"Bearer {fixtures.login(port, fixtures.ADMIN).access}"
            path = scenario_path(target, scenario)
            send(port, path, headers, requests, connections)  # warm-up: the first rounds after less came out higher
            counters = Counters(server, out_dir)
            per_request = []
            for _ in range(rounds):
                counters.zero()
                sent = send(port, path, headers, requests, connections)
                per_request.append(counters.dump() / sent)
            return per_request
        finally:
            server.stop()
    finally:
        target.cleanup()
        shutil.rmtree(out_dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", default="granian-raw,authgate,authgate-nolog")
    parser.add_argument("--scenario", choices=SCENARIOS, default="ping")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
    known = {t.name: t for t in all_targets()}
    wanted = args.targets.split(",")
    if unknown := set(wanted) - set(known):
        raise SystemExit(f"unknown target(s): {', '.join(sorted(unknown))}")
    if args.scenario == "me" and (plain := [n for n in wanted if not known[n].real_auth]):
        raise SystemExit(f"no /auth/me on {', '.join(plain)}: the me scenario is for authgate and gin-real")
    if args.scenario == "io" and (plain := [n for n in wanted if known[n].io_path is None]):
        raise SystemExit(f"no 10 ms I/O endpoint on {', '.join(plain)}")
    for name in wanted:
        rounds = measure(known[name], args.scenario, args.requests, args.connections, args.rounds)
        spread = (max(rounds) - min(rounds)) / statistics.median(rounds)
        print(
            f"{name:16s} {args.scenario}: {statistics.median(rounds):10,.0f} instructions/request "
            f"(rounds {', '.join(f'{r:,.0f}' for r in rounds)}; spread {spread:.2%})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
