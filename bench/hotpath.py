"""CPU per call of the pieces of authgate's request path, in process, on PostgreSQL (or SQLite).

    python bench/hotpath.py [--db postgres|sqlite] [--calls N] [--only NAME,...] [--set SETTING=VALUE ...]

Each piece runs N times from 10 concurrent tasks after a warm-up; the figure is process CPU time (user + system)
per call, which other work on the machine disturbs far less than wall-clock throughput: use it to compare two
versions of the code on a shared machine (interleave them), and `make bench` for the figures that count.
PostgreSQL's own CPU is not in it (another process), nor Granian's HTTP work.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pg
from authgate.app import create_app
from authgate.config import load_settings
from authgate.domain.clients import ClientInfo
from authgate.errors import InvalidCredentials
from authgate.http.request import Request

PASSWORD = "a-long-and-unusual-passphrase"
CLIENT = ClientInfo(ip="127.0.0.1", user_agent="hotpath/1.0")


class Headers(dict[str, str]):
    pass


async def measure(label: str, fn: Callable[[], Awaitable[object]], calls: int, concurrency: int = 10) -> None:
    async def worker(n: int) -> None:
        for _ in range(n):
            await fn()

    await asyncio.gather(*(worker(max(1, calls // 20)) for _ in range(concurrency)))  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{label:34s} {1e6 * cpu / calls:8.1f} µs CPU/call  {calls / wall:9,.0f} calls/s", flush=True)


async def run(database_url: str, calls: int, only: set[str], overrides: dict[str, str], concurrency: int) -> None:
    settings = load_settings(
        {f"AUTHGATE_{name.upper()}": value for name, value in overrides.items()},
        database_url=database_url,
        password_hash_memory_kib=64,
        password_hash_time_cost=1,
        rate_limit_enabled=False,
        access_log=False,
        metrics_enabled=False,
        log_level="error",
    )
    app = create_app(settings)
    await app.startup()
    services = app.services
    try:
        await services.auth.register("alice", "alice@example.com", PASSWORD)
        for i in range(60):
            await services.admin.create(f"user{i:02d}", f"user{i:02d}@example.com", PASSWORD)
        await services.admin.create("root", "root@example.com", PASSWORD, ["admin", "user"])
        admin_token = (await services.auth.login("root", PASSWORD, CLIENT)).access_token
        pair = await services.auth.login("alice", PASSWORD, CLIENT)
        token = pair.access_token
        families = collections.deque(
            [(await services.auth.login("alice", PASSWORD, CLIENT)).refresh_token for _ in range(concurrency + 2)]
        )
        db = services.db

        async def reader() -> None:
            async with db.reader():
                pass

        async def transaction() -> None:
            async with db.transaction():
                pass

        async def authenticate() -> None:
            await services.auth.authenticate(token)

        async def login() -> None:
            # Everything a login does but the real hash: the hash here is argon2id at 64 KiB, t=1.
            await services.auth.login("alice", PASSWORD, CLIENT)

        async def login_failed() -> None:
            # A wrong password: the same hash, then the failure audited.
            try:
                await services.auth.login("alice", "not-" + PASSWORD, CLIENT)
            except InvalidCredentials:
                return
            raise AssertionError("a wrong password signed in")

        async def refresh_token() -> None:
            # Each task takes a token family of its own out of the deque and puts the successor back.
            families.append((await services.refresh.rotate(families.popleft(), CLIENT)).refresh_token)

        async def me_request() -> None:
            headers = Headers(authorization="Bearer " + token)
            req = Request("GET", "/auth/me", "", headers, _no_body, services, _client_ip="127.0.0.1")
            response = await app.handle(req)
            assert response.status == 200, response.body

        async def users_request() -> None:
            headers = Headers(authorization="Bearer " + admin_token)
            req = Request("GET", "/users", "limit=50", headers, _no_body, services, _client_ip="127.0.0.1")
            response = await app.handle(req)
            assert response.status == 200, response.body

        async def ping_request() -> None:
            req = Request("GET", "/ping", "", Headers(), _no_body, services, _client_ip="127.0.0.1")
            await app.handle(req)

        pieces: dict[str, Callable[[], Awaitable[object]]] = {
            "reader": reader,
            "transaction": transaction,
            "authenticate": authenticate,
            "login": login,
            "login-failed": login_failed,
            "me": me_request,
            "users": users_request,
            "ping": ping_request,
            "refresh": refresh_token,
        }
        for name, fn in pieces.items():
            if not only or name in only:
                await measure(name, fn, calls, concurrency)
    finally:
        await app.shutdown()


async def _no_body(limit: int) -> bytes:
    return b""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--only", default="", help="comma-separated names (default: all); see the output")
    parser.add_argument("--set", action="append", default=[], help="a setting, e.g. session_cache_ttl=0")
    parser.add_argument(
        "--concurrency", type=int, default=10, help="calls in flight (past the pool's 10 connections, some wait)"
    )
    args = parser.parse_args()
    only = {o for o in args.only.split(",") if o}
    overrides = dict(item.split("=", 1) for item in args.set)
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "postgres":
            name = pg.new_database_name("hotpath")
            url = pg.create_database(name)
            try:
                uvloop.run(run(url, args.calls, only, overrides, args.concurrency))
            finally:
                pg.drop_database(name)
        else:
            sqlite = f"sqlite:///{os.path.join(tmp, 'hotpath.db')}"
            uvloop.run(run(sqlite, args.calls, only, overrides, args.concurrency))


if __name__ == "__main__":
    main()
