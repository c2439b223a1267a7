"""Start a server process, time it from exec to its first `200` on /ping, and stop it with all its children.

Each server runs in its own session (process group), optionally pinned with `taskset`, its stdout and
stderr going to a log file whose tail is quoted when it fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from procmem import Memory, tree_memory


class ServerFailed(Exception):
    """A server did not start, died, or answered wrongly."""


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ping_status(port: int, path: str = "/ping", timeout: float = 1.0) -> int | None:
    """The HTTP status of one GET, or None while nothing accepts connections on `port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64)
    except (ConnectionRefusedError, ConnectionResetError, TimeoutError):
        return None
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1])


@dataclass
class RunningServer:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    startup_s: float
    _log: IO[bytes] = field(repr=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def memory(self) -> Memory:
        return tree_memory(self.process.pid)

    def log_tail(self, lines: int = 25) -> str:
        if not self._log.closed:
            self._log.flush()
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(max(0, self.log_path.stat().st_size - 16384))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        else:
            # The leader may be gone while workers of its group live on.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


def start(
    name: str, launch: Launch, port: int, log_path: Path, *, cpus: str | None, ready_timeout: float = 60.0
) -> RunningServer:
    """Exec the server and wait for `200` from GET /ping; the elapsed time is its start-up time."""
    argv = [*(("taskset", "-c", cpus) if cpus else ()), *launch.argv]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env=dict(launch.env), cwd=launch.cwd, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = RunningServer(name, port, process, log_path, 0.0, log)
    deadline = started + ready_timeout
    while True:
        if not server.alive():
            tail = server.log_tail()
            server.stop()
            raise ServerFailed(
                f"{name} exited with status {process.returncode} before answering /ping "
                f"({' '.join(argv)}):\n{tail}"
            )
        status = ping_status(port)
        if status == 200:
            server.startup_s = time.perf_counter() - started
            return server
        if time.perf_counter() > deadline:
            tail = server.log_tail()
            server.stop()
            raise ServerFailed(
                f"{name} did not answer 200 on /ping within {ready_timeout:.0f} s (last status {status}):\n{tail}"
            )
        time.sleep(0.002)
