"""Start the real `authgate serve` in a subprocess on a free port, for tests over real HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

FAST_HASH_ENV = {"AUTHGATE_PASSWORD_HASH_MEMORY_KIB": "64", "AUTHGATE_PASSWORD_HASH_TIME_COST": "1"}
GENEROUS_LIMITS_ENV = {
    # Limits stay on but out of the way of tests that log in many times from 127.0.0.1; pass your own to test them.
    "AUTHGATE_RATE_LIMITS": "login:ip=100000/minute,account=100000/hour;register:ip=100000/minute;"
    "refresh:ip=100000/minute;email:ip=100000/minute,account=100000/hour;mfa:ip=100000/minute,account=100000/hour",
    "AUTHGATE_LOGIN_BACKOFF_AFTER": "1000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def authgate(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `authgate` command (as `python -m authgate`) to completion."""
    return subprocess.run(
        [sys.executable, "-m", "authgate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def live_server(
    env: dict[str, str], tmp_path: Path, workers: int = 1, timeout: float = 30, host: str = "127.0.0.1"
) -> Iterator[LiveServer]:
    """The server on a free port of 127.0.0.1, its issuer and URL `http://{host}:{port}` (`localhost`: a domain, as
    passkeys need)."""
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    limits = GENEROUS_LIMITS_ENV
    url = f"http://{host}:{port}"
    full_env = {**os.environ, **FAST_HASH_ENV, **limits, "AUTHGATE_ISSUER": url, **env}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "authgate", "serve", "--port", str(port), "--workers", str(workers)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    server = LiveServer(process, url, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"authgate exited with {process.returncode}:\n{server.output()}")
            try:
                if httpx.get(url + "/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"authgate did not start in {timeout} s:\n{server.output()}")
            time.sleep(0.05)
        # One worker answering is not all of them serving: wait for every worker.
        while not all(f"Started worker-{n}" in server.output() for n in range(1, workers + 1)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not every worker started in {timeout} s:\n{server.output()}")
            time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
