"""PostgreSQL servers of the test's own (initdb in a temporary folder), each on a free port: a single server
that a fault test may stop, restart or crash (`single()`), and a primary with a streaming replica made with
pg_basebackup for tests of the read/write split (`primary_and_replica()`). Debian's PostgreSQL binaries are used
(/usr/lib/postgresql/<version>/bin); as root, they run as the `postgres` user, as PostgreSQL requires."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from liveserver import free_port


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        path = shutil.which("initdb")
        if path is None:
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are not installed")
            pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are not installed")
        return Path(path).parent
    return Path(found[-1]).parent


@dataclass
class Server:
    data: Path
    port: int
    sockets: Path
    bin: Path
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/authgate"

    def run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        self.run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.data / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended and the server shuts down cleanly; `immediate`: as if it lost power."""
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def processes(self) -> list[int]:
        """The postmaster and every process under it."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        found, stack = [], [postmaster]
        while stack:
            pid = stack.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                stack.extend(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
        return found

    def freeze(self) -> None:
        """SIGSTOP the whole server: connections stay open and nothing answers (a hung server, or a network
        that drops packets); new connections are accepted by the kernel and then hear nothing. The postmaster
        stops first; a backend it forked meanwhile is found by looking again until nothing new turns up."""
        stopped: set[int] = set()
        while fresh := [pid for pid in self.processes() if pid not in stopped]:
            for pid in fresh:
                os.kill(pid, signal.SIGSTOP)
                stopped.add(pid)

    def thaw(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGCONT)

    def psql(self, sql: str, database: str = "authgate") -> str:
        """Run one statement with psql; its output, unaligned and without headers."""
        result = subprocess.run(
            [*self.as_user, str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", database, "-At", "-c", sql],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return result.stdout.strip()


def _initdb(server: Server, extra_conf: str) -> None:
    server.run(str(server.bin / "initdb"), "-D", str(server.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    with (server.data / "postgresql.conf").open("a") as conf:
        conf.write(extra_conf)


def _base() -> tuple[Path, list[str]]:
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="authgate-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
    return base, as_user


DURABLE = "fsync = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
"""A commit is acknowledged once its WAL is written (synchronous_commit = on, PostgreSQL's default), so it
survives the server's crash; fsync = off only drops what a crash of the whole machine would need."""


@contextlib.contextmanager
def single(extra_conf: str = "") -> Iterator[Server]:
    """A server of the test's own with an `authgate` database, stopped and removed at the end."""
    bin_dir = _bin_dir()
    base, as_user = _base()
    server = Server(base / "data", free_port(), base, bin_dir, as_user)
    try:
        _initdb(server, DURABLE + extra_conf)
        server.start()
        server.psql("CREATE DATABASE authgate", database="postgres")
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def primary_and_replica() -> Iterator[tuple[Server, Server]]:
    bin_dir = _bin_dir()
    base, as_user = _base()
    primary = Server(base / "primary", free_port(), base, bin_dir, as_user)
    replica = Server(base / "replica", free_port(), base, bin_dir, as_user)
    started: list[Server] = []
    try:
        # streaming replication (initdb's pg_hba.conf already lets local replication connections in), and
        # nothing that makes a throwaway cluster slow
        _initdb(
            primary,
            "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n"
            "synchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\n",
        )
        primary.start()
        started.append(primary)
        primary.psql("CREATE DATABASE authgate", database="postgres")
        primary.run(
            str(bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        replica.start()
        started.append(replica)
        yield primary, replica
    finally:
        for server in reversed(started):
            with contextlib.suppress(subprocess.SubprocessError):
                server.stop()
        shutil.rmtree(base, ignore_errors=True)
