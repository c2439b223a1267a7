"""Run wrk (Debian's package) in its own process, optionally pinned, and parse what it measured.

Every run appends lua/report.lua to its scenario script, whose done() prints one `BENCH_JSON {...}` line:
responses received, bytes, socket errors (connect, read, write, timeout), responses with a status >= 400
("status"), and latency percentiles in microseconds.

How wrk counts, and what follows for the figures here:
- A response slower than --timeout still counts in `requests`, adds one to `timeout`, and is left out of the
  latency histogram.
- Every 2 s wrk also adds one to `timeout` for each connection whose request is older than --timeout, so a
  starved connection counts once per 2 s it starves, as a client retrying after each timeout would.
- wrk corrects its latency histogram for coordinated omission (it adds the samples a constant-rate client
  would have seen), so its percentiles are higher than the plain latencies of the responses, never lower.
- Hence: ok = responses with status < 400; success rate = ok / (responses + connect, read and write errors
  + timeouts), the nearest wrk gets to locust's failure ratio (a late response counts once each way).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "lua"
SOCKET_ERRORS = ("connect", "read", "write", "timeout")


class WrkFailed(Exception):
    pass


@dataclass(frozen=True)
class Load:
    url: str
    connections: int
    threads: int
    duration_s: int
    script: str | None = None
    """A file name in bench/lua/, without report.lua (always appended)."""
    env: dict[str, str] = field(default_factory=dict)
    cpus: str | None = None
    timeout_s: int = 2


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes: int
    errors: dict[str, int]
    latency_us: dict[str, float]
    extra: dict[str, Any]
    connections: int
    cpu: dict[str, float] = field(default_factory=dict)
    """Average cores used during the run, by whom (see cpuwatch)."""

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def ok(self) -> int:
        """Responses with a status below 400."""
        return self.requests - self.errors["status"]

    @property
    def ok_rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    @property
    def socket_errors(self) -> int:
        return sum(self.errors[k] for k in SOCKET_ERRORS)

    @property
    def success_rate(self) -> float:
        """ok / (responses + socket errors and timeouts); see the module doc."""
        attempts = self.requests + self.socket_errors
        return self.ok / attempts if attempts else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections, "requests": self.requests, "duration_s": self.duration_s,
            "bytes": self.bytes, "rps": self.rps, "ok_rps": self.ok_rps, "success_rate": self.success_rate,
            "errors": self.errors, "latency_us": self.latency_us, "cpu": self.cpu,
            **({"extra": self.extra} if self.extra else {}),
        }


def _script(name: str, build: Path) -> Path:
    out = build / "lua" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text((LUA / name).read_text() + "\n" + (LUA / "report.lua").read_text())
    return out


def command(load: Load, build: Path) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkFailed("no `wrk` on PATH: run bench/setup.sh (installs Debian's wrk)")
    script = _script(load.script or "none.lua", build)
    return [
        *(("taskset", "-c", load.cpus) if load.cpus else ()), wrk, "--latency",
        "-t", str(load.threads), "-c", str(load.connections), "-d", f"{load.duration_s}s",
        "--timeout", f"{load.timeout_s}s", "-s", str(script), load.url,
    ]


def spawn(load: Load, build: Path) -> subprocess.Popen[str]:
    if load.connections < load.threads or load.connections % load.threads:
        raise WrkFailed(f"{load.connections} connections do not divide among {load.threads} threads")
    env = {**os.environ, **load.env, "BENCH_THREADS": str(load.threads)}
    return subprocess.Popen(
        command(load, build), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def collect(process: subprocess.Popen[str], load: Load) -> WrkResult:
    try:
        stdout, stderr = process.communicate(timeout=load.duration_s + load.timeout_s + 60)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise WrkFailed(f"wrk did not finish against {load.url}") from None
    line = next((ln for ln in stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise WrkFailed(f"wrk against {load.url} failed ({process.returncode}): {stderr.strip()} {stdout[-500:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    known = ("duration_us", "requests", "bytes", "errors", "latency_us")
    extra = {k: v for k, v in data.items() if k not in known}
    return WrkResult(
        requests=int(data["requests"]), duration_s=data["duration_us"] / 1e6,
        bytes=int(data["bytes"]), errors={k: int(v) for k, v in data["errors"].items()},
        latency_us=data.get("latency_us", {}),
        extra=extra, connections=load.connections,
    )


def run(load: Load, build: Path) -> WrkResult:
    return collect(spawn(load, build), load)


def version() -> str:
    result = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).splitlines()[0] if (result.stdout or result.stderr) else "unknown"
