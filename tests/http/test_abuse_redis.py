"""Limits and back-off counted in Redis: exact for several app instances at once, and in-process while Redis
does not answer (the service keeps serving and says so), back to Redis when it answers again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from abuse_helpers import client_from, drop_prefix, make_settings, need_redis, started, unique_prefix
from authgate.domain.ratelimits import Limit, Rate, RateLimited
from authgate.ratelimit import start_rate_limiting
from helpers import PASSWORD, register
from liveserver import free_port

pytestmark = pytest.mark.redis

WRONG = "not-the-password-at-all"


@pytest.fixture
async def shared_redis() -> AsyncIterator[dict[str, str]]:
    url = need_redis()
    prefix = unique_prefix()
    yield {"redis_url": url, "redis_prefix": prefix}
    await drop_prefix(url, prefix)


async def test_two_instances_share_exact_limits(sqlite_url: str, shared_redis: dict[str, str]) -> None:
    settings = {**shared_redis, "rate_limits": "login:ip=10/minute,account=1000/hour", "login_backoff_after": 1000}
    async with started(sqlite_url, **settings) as a, started(sqlite_url, **settings) as b:
        assert a.services.rate_limiting.status() == "ok"
        async with client_from(a, "198.51.100.30") as ca, client_from(b, "198.51.100.30") as cb:
            await register(ca, "alice")

            async def attempt(i: int) -> int:
                c = ca if i % 2 else cb
                password = PASSWORD if i % 3 == 0 else WRONG
                response = await c.post("/auth/login", json={"username": "alice", "password": password})
                return response.status_code

            statuses = await asyncio.gather(*(attempt(i) for i in range(40)))
        assert sum(s != 429 for s in statuses) == 10, statuses
        assert set(statuses) <= {200, 401, 429}


async def test_a_burst_waits_for_a_few_warm_connections_and_counts_exactly(shared_redis: dict[str, str]) -> None:
    """300 limited calls at once in one worker: they share the link's few connections, opened at start, and
    Redis stays in use. (Before, each concurrent call opened a connection of its own: past redis-py's 100 the
    pool refused, and on a busy event loop the opening timed out; either marked a healthy Redis down, and the
    limits fell to per process.)"""
    settings = make_settings(
        "sqlite:///unused.db", **shared_redis, rate_limits="login:ip=250/minute", redis_pool_size=4
    )
    rate_limiting = await start_rate_limiting(settings)
    link = rate_limiting.link
    assert link is not None
    try:
        pool = link.client.connection_pool
        assert len(pool._available_connections) == 4  # opened at start, so that a burst opens none
        limit = Limit("login", "ip", Rate(250, "minute"))

        async def hit() -> bool:
            try:
                await rate_limiting.limits.limiter.hit(limit, "198.51.100.40")
            except RateLimited:
                return False
            return True

        admitted = await asyncio.gather(*(hit() for _ in range(300)))
        assert link.available
        assert sum(admitted) == 250
        assert len(pool._available_connections) + len(pool._in_use_connections) == 4
    finally:
        await rate_limiting.close()


async def test_a_call_that_finds_no_free_connection_in_time_counts_in_process(shared_redis: dict[str, str]) -> None:
    """A worker too busy to free a connection within the timeout counts that call in process; Redis stays in use."""
    settings = make_settings(
        "sqlite:///unused.db", **shared_redis, rate_limits="login:ip=2/minute", redis_pool_size=1, redis_timeout_ms=50
    )
    rate_limiting = await start_rate_limiting(settings)
    link = rate_limiting.link
    assert link is not None
    limiter = rate_limiting.limits.limiter
    limit = Limit("login", "ip", Rate(2, "minute"))
    try:
        await limiter.hit(limit, "198.51.100.41")  # in Redis
        assert await link.enter()  # the one connection, held by a call that is slow to finish
        started_at = time.monotonic()
        await limiter.hit(limit, "198.51.100.41")  # waits 50 ms, then counts in process
        assert 0.04 < time.monotonic() - started_at < 1
        assert link.available
        link.leave()
        await limiter.hit(limit, "198.51.100.41")  # in Redis again: its second hit there
        with pytest.raises(RateLimited):
            await limiter.hit(limit, "198.51.100.41")
    finally:
        await rate_limiting.close()


async def test_backoff_engaged_on_one_instance_holds_on_the_other(
    sqlite_url: str, shared_redis: dict[str, str]
) -> None:
    settings = {**shared_redis, "rate_limits": "login:ip=1000/minute,account=1000/hour", "login_backoff_after": 3}
    async with (
        started(sqlite_url, **settings) as a,
        started(sqlite_url, **settings) as b,
        client_from(a, "198.51.100.31") as ca,
        client_from(b, "198.51.100.32") as cb,
    ):
        await register(ca, "alice")
        device = (await ca.post("/auth/login", json={"username": "alice", "password": PASSWORD})).json()
        for _ in range(3):
            assert (await ca.post("/auth/login", json={"username": "alice", "password": WRONG})).status_code == 401
        refused = await cb.post("/auth/login", json={"username": "alice", "password": PASSWORD})
        assert refused.status_code == 429
        known = await cb.post(
            "/auth/login",
            json={"username": "alice", "password": PASSWORD, "device_token": device["device_token"]},
        )
        assert known.status_code == 200  # a device token issued by one instance is trusted by the other
        assert (await ca.post("/auth/login", json={"username": "alice", "password": WRONG})).status_code == 401


async def test_unreachable_redis_falls_back_to_in_process_limits(sqlite_url: str) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = {"redis_url": dead, "redis_timeout_ms": 200, "rate_limits": "login:ip=3/minute"}
    async with started(sqlite_url, **settings) as app, client_from(app, "198.51.100.33") as c:
        ready = await c.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ok"
        assert ready.json()["checks"]["rate_limits"] == "degraded: in-process (redis unreachable)"
        assert app.services.rate_limiting.degraded
        await register(c, "alice")
        started_at = time.monotonic()
        statuses = [
            (await c.post("/auth/login", json={"username": "alice", "password": WRONG})).status_code for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]  # still limited, in process
        assert time.monotonic() - started_at < 2  # and a dead Redis does not slow every login


@pytest.fixture
def private_redis() -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A Redis of this test's own (so that stopping it disturbs no other test)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    processes: list[subprocess.Popen[bytes]] = []
    yield port, processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


async def test_back_to_redis_when_it_answers_again(
    sqlite_url: str, private_redis: tuple[int, list[subprocess.Popen[bytes]]]
) -> None:
    port, processes = private_redis
    processes.append(_start_redis(port))
    settings = {"redis_url": f"redis://127.0.0.1:{port}/0", "redis_timeout_ms": 200}
    async with started(sqlite_url, **settings) as app, client_from(app, "198.51.100.34") as c:
        link = app.services.rate_limiting.link
        assert link is not None
        link.probe_interval = 0.2  # probe often in this test (the default is every 5 s)
        assert (await c.get("/health/ready")).json()["checks"]["rate_limits"] == "ok"
        processes[0].kill()
        processes[0].wait()
        response = await c.post("/auth/login", json={"username": "nobody", "password": WRONG})
        assert response.status_code == 401  # served, in process
        assert (await c.get("/health/ready")).json()["checks"]["rate_limits"].startswith("degraded")
        processes.append(_start_redis(port))
        deadline = time.monotonic() + 10
        while (await c.get("/health/ready")).json()["checks"]["rate_limits"] != "ok":
            assert time.monotonic() < deadline, "authgate did not go back to Redis"
            await asyncio.sleep(0.1)
        assert not app.services.rate_limiting.degraded
        response = await c.post("/auth/login", json={"username": "nobody", "password": WRONG})
        assert response.status_code == 401
    assert isinstance(response, httpx.Response)
