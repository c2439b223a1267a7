"""The servers under test: the seed's references (Flask, FastAPI, Gin New/Default), Gin doing authgate's real
work, and authgate itself; each knows how to prepare, launch and clean up after itself for a placement.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import fixtures
import pg
from servers import Launch, ServerFailed

BENCH = Path(__file__).resolve().parent
REFERENCES = BENCH / "references"
DB_POOL_PER_WORKER = 10  # authgate's default AUTHGATE_DATABASE_POOL_SIZE, per worker process


@dataclass(frozen=True)
class Placement:
    """Where the server and the load generator run."""

    name: str
    server_cpus: str | None
    load_cpus: str | None
    cores: int
    """CPU cores the server may use: its worker processes, GOMAXPROCS, hash threads."""
    wrk_threads: int

    def describe(self) -> str:
        if self.server_cpus is None:
            return f"whole machine: server and wrk share {self.cores} cores"
        return f"pinned: server on CPU {self.server_cpus}, wrk on CPU {self.load_cpus}"


def placements(nproc: int) -> dict[str, Placement]:
    return {
        "pinned": Placement("pinned", "0", "1", 1, 1),
        "machine": Placement("machine", None, None, nproc, max(1, min(nproc, 4))),
    }


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "GOMAXPROCS", "GIN_"))}
    env.update(extra)
    return env


class Target:
    """A server under test; subclasses say how to launch it and which endpoints it serves."""

    name = ""
    label = ""
    fake_login = False
    """Serves the seed's fake POST /login."""
    io_path: str | None = None
    only: frozenset[str] | None = None
    """The scenarios it runs, when not every one that applies to it."""
    """The 10 ms I/O endpoint, if any."""
    real_auth = False
    """Serves /auth/login, /auth/me, /auth/refresh, /users with real work."""

    def prepare(self, placement: Placement, binaries: dict[str, Path]) -> None:
        """Work before the start that is not start-up time (databases, admin user)."""

    def launch(self, placement: Placement, port: int, binaries: dict[str, Path]) -> Launch:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Undo `prepare`."""


class Flask(Target):
    name, label = "flask", "Flask · gunicorn+gevent"
    fake_login, io_path = True, "/api/data"

    def launch(self, placement: Placement, port: int, binaries: dict[str, Path]) -> Launch:
        return Launch(
            (sys.executable, "-m", "gunicorn", "--worker-class", "gevent", "--workers", str(placement.cores),
             "--bind", f"127.0.0.1:{port}", "--chdir", str(REFERENCES), "flask_app:app"),
            clean_env(),
        )


class FastAPI(Target):
    name, label = "fastapi", "FastAPI · uvicorn"
    fake_login, io_path = True, "/api/data"

    def launch(self, placement: Placement, port: int, binaries: dict[str, Path]) -> Launch:
        return Launch(
            (sys.executable, "-m", "uvicorn", "fastapi_app:app", "--app-dir", str(REFERENCES), "--host",
             "127.0.0.1", "--port", str(port), "--workers", str(placement.cores), "--no-access-log",
             "--log-level", "warning"),
            clean_env(),
        )


class GranianRaw(Target):
    name, label = "granian-raw", "Granian RSGI, no framework"
    fake_login, io_path = True, "/api/data"

    def launch(self, placement: Placement, port: int, binaries: dict[str, Path]) -> Launch:
        return Launch(
            (sys.executable, "-m", "granian", "--interface", "rsgi", "--workers", str(placement.cores), "--host",
             "127.0.0.1", "--port", str(port), "--http", "1", "--no-log", "--working-dir", str(REFERENCES),
             "rsgi_app:app"),
            clean_env(),
        )


class GinSeed(Target):
    fake_login, io_path = True, "/api/data"

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.name = f"gin-{engine}"
        self.label = "Gin · gin.New()" if engine == "new" else "Gin · gin.Default() (logger)"

    def launch(self, placement: Placement, port: int, binaries: dict[str, Path]) -> Launch:
        return Launch(
            (str(binaries["gin-seed"]), "-addr", f"127.0.0.1:{port}", "-engine", self.engine),
            clean_env(GOMAXPROCS=str(placement.cores)),
        )


class _WithDatabase(Target):
    real_auth = True

    def __init__(self) -> None:
        self.database: str | None = None
        self.url = ""

    def _create_database(self) -> None:
        self.database = pg.new_database_name(self.name)
        self.url = pg.create_database(self.database)

    def cleanup(self) -> None:
        if self.database is not None:
            pg.drop_database(self.database)
            self.database = None


class GinReal(_WithDatabase):
    name, label = "gin-real", "Gin · real work (argon2id, EdDSA, pgx)"

    def __init__(self) -> None:
        super().__init__()
        self.binary: Path | None = None

    def prepare(self, placement: Placement, binaries: dict[str, Path]) -> None:
        self._create_database()
        result = subprocess.run(
            [str(binaries["gin-real"]), "-database", self.url, "-admin-username", fixtures.ADMIN, "-admin-email",
             fixtures.ADMIN_EMAIL, "-admin-password", fixtures.PASSWORD, "init"],
            capture_output=True, text=True, check=False, env=clean_env(),
        )
        if result.returncode != 0:
            raise ServerFailed(f"gin-real init failed: {result.stdout}{result.stderr}")

    def launch(self, placement: Placement, port: int, binaries: dict[str, Path]) -> Launch:
        return Launch(
            (str(binaries["gin-real"]), "-database", self.url, "-addr", f"127.0.0.1:{port}", "-pool-size",
             str(DB_POOL_PER_WORKER * placement.cores), "serve"),
            clean_env(GOMAXPROCS=str(placement.cores)),
        )


def authgate_available() -> str | None:
    """Why authgate cannot be launched, or None when it can."""
    try:
        if importlib.util.find_spec("authgate.cli") is None:
            return "the installed authgate package has no authgate.cli module (yet)"
    except ModuleNotFoundError:
        return "authgate is not installed in this environment (pip install -e the repository)"
    return None


class Authgate(_WithDatabase):
    name, label = "authgate", "authgate"
    io_path = "/bench/io"

    def _env(self, placement: Placement) -> dict[str, str]:
        return clean_env(
            AUTHGATE_DATABASE_URL=self.url,
            AUTHGATE_ACCESS_LOG="true",
            AUTHGATE_RATE_LIMIT_ENABLED="false",
            AUTHGATE_BENCH_ENDPOINTS="true",
            AUTHGATE_HASH_POOL_SIZE=str(placement.cores),
            AUTHGATE_DATABASE_POOL_SIZE=str(DB_POOL_PER_WORKER),
            AUTHGATE_PASSWORD_HASH_MEMORY_KIB="19456",
            AUTHGATE_PASSWORD_HASH_TIME_COST="2",
            AUTHGATE_PASSWORD_HASH_PARALLELISM="1",
        )

    def prepare(self, placement: Placement, binaries: dict[str, Path]) -> None:
        reason = authgate_available()
        if reason is not None:
            raise ServerFailed(f"authgate cannot be started: {reason}")
        self._create_database()
        result = subprocess.run(
            [sys.executable, "-m", "authgate", "create-user", fixtures.ADMIN, "--email", fixtures.ADMIN_EMAIL,
             "--admin", "--password-stdin"],
            input=fixtures.PASSWORD + "\n", capture_output=True, text=True, check=False, env=self._env(placement),
        )
        if result.returncode != 0:
            raise ServerFailed(f"authgate create-user failed ({result.returncode}): {result.stdout}{result.stderr}")

    def launch(self, placement: Placement, port: int, binaries: dict[str, Path]) -> Launch:
        return Launch(
            (sys.executable, "-m", "authgate", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
             str(placement.cores)),
            self._env(placement),
        )


class AuthgateNoCache(Authgate):
    """authgate with its session cache off (AUTHGATE_SESSION_CACHE_TTL=0): every request checks its session in
    PostgreSQL, as gin-real does; for the scenarios the cache changes."""

    name, label = "authgate-nocache", "authgate, session cache off"
    io_path = None
    only = frozenset({"me", "users"})

    def _env(self, placement: Placement) -> dict[str, str]:
        return {**super()._env(placement), "AUTHGATE_SESSION_CACHE_TTL": "0"}


class AuthgateNoLog(Authgate):
    """authgate with its access log off (AUTHGATE_ACCESS_LOG=false), metrics still on: issue #10 compares it
    with gin.New(), which logs nothing, as authgate with its log is compared with gin.Default(); on `/ping` and
    on the 10 ms I/O endpoint, the two scenarios that both Gin servers serve."""

    name, label = "authgate-nolog", "authgate, access log off"
    only = frozenset({"ping", "io-ramp"})

    def _env(self, placement: Placement) -> dict[str, str]:
        return {**super()._env(placement), "AUTHGATE_ACCESS_LOG": "false"}


class AuthgateSampledLog(Authgate):
    """authgate logging 1% of its successful requests (AUTHGATE_ACCESS_LOG_SAMPLE=0.01) and every failure, as a
    busy deployment may: the access log on, at the price it has at that rate."""

    name, label = "authgate-sampled", "authgate, 1% of successes logged"
    io_path = None
    only = frozenset({"ping"})

    def _env(self, placement: Placement) -> dict[str, str]:
        return {**super()._env(placement), "AUTHGATE_ACCESS_LOG_SAMPLE": "0.01"}


def all_targets() -> list[Target]:
    return [
        Flask(),
        FastAPI(),
        GranianRaw(),
        GinSeed("new"),
        GinSeed("default"),
        GinReal(),
        Authgate(),
        AuthgateNoCache(),
        AuthgateNoLog(),
        AuthgateSampledLog(),
    ]
