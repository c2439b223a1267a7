"""The read/write split: with AUTHGATE_DATABASE_REPLICA_URLS, reads that tolerate lag (the admin listing) go to
a streaming replica, and everything else to the primary. Shown on a primary made with initdb and a replica made
from it with pg_basebackup: pausing the replica's replay hides a new user from the listing only, and stopping
the replica fails the listing only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import asyncpg
import httpx
import pytest

from abuse_helpers import client_from, make_admin, started
from helpers import PASSWORD, bearer, login, register
from pgcluster import Server, primary_and_replica

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    with primary_and_replica() as both:
        yield both


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def listed(client: httpx.AsyncClient, admin: dict[str, str]) -> set[str]:
    response = await client.get("/users", params={"limit": 100}, headers=admin)
    assert response.status_code == 200, response.text
    return {u["username"] for u in response.json()["items"]}


async def test_the_listing_reads_the_replica_and_everything_else_the_primary(servers: tuple[Server, Server]) -> None:
    primary, replica = servers
    async with started(primary.url, database_replica_urls=(replica.url,)) as app, client_from(app, "192.0.2.1") as c:
        admin = await make_admin(app)

        async def root_listed() -> bool:
            # Until the replica has replayed the migrations and the admin, the listing cannot answer.
            response = await c.get("/users", params={"limit": 100}, headers=admin)
            return response.status_code == 200 and "root" in {u["username"] for u in response.json()["items"]}

        await eventually(root_listed)  # the replica has caught up
        standby = await asyncpg.connect(replica.url)
        try:
            assert await standby.fetchval("SELECT pg_is_in_recovery()")
            await standby.execute("SELECT pg_wal_replay_pause()")
            user = await register(c, "zoe")
            # writes and ordinary reads are on the primary: the new user can log in and be fetched at once ...
            token = (await login(c, "zoe"))["access_token"]
            assert (await c.get("/auth/me", headers=bearer(token))).status_code == 200
            assert (await c.get(f"/users/{user['id']}", headers=admin)).status_code == 200
            # ... while the listing, on the paused replica, does not show her yet
            assert "zoe" not in await listed(c, admin)
            await standby.execute("SELECT pg_wal_replay_resume()")

            async def zoe_listed() -> bool:
                return "zoe" in await listed(c, admin)

            await eventually(zoe_listed)
        finally:
            await standby.close()


async def test_without_the_replica_only_the_listing_fails(servers: tuple[Server, Server]) -> None:
    primary, replica = servers
    async with started(primary.url, database_replica_urls=(replica.url,)) as app, client_from(app, "192.0.2.2") as c:
        admin = await make_admin(app, "root2")
        await listed(c, admin)
        replica.stop()
        try:
            failed = await c.get("/users", headers=admin)
            assert failed.status_code == 503 and failed.json()["code"] == "database_unavailable"
            # the rest of the service does not notice
            await register(c, "yuri")
            token = (await login(c, "yuri"))["access_token"]
            assert (await c.get("/auth/me", headers=bearer(token))).status_code == 200
            assert (await c.post("/auth/login", json={"username": "yuri", "password": PASSWORD})).status_code == 200
            assert (await c.get("/health/ready")).status_code == 200  # readiness is the primary's
        finally:
            replica.start()

        async def listing_back() -> bool:
            response = await c.get("/users", headers=admin)
            return response.status_code == 200 and "yuri" in {u["username"] for u in response.json()["items"]}

        await eventually(listing_back)  # the pool reconnects by itself


async def test_a_replica_without_the_schema_yet_is_unavailable_not_an_error(servers: tuple[Server, Server]) -> None:
    """A replica that has not replayed the migrations (a new cluster, or one far behind): the listing answers 503,
    every time, and the rest of the service does not notice."""
    primary, _ = servers
    primary.psql("CREATE DATABASE not_migrated", database="postgres")
    behind = primary.url.rsplit("/", 1)[0] + "/not_migrated"
    async with started(primary.url, database_replica_urls=(behind,)) as app, client_from(app, "192.0.2.3") as c:
        admin = await make_admin(app, "root3")
        for _ in range(3):  # more than once: the connection went back to the pool in a usable state
            failed = await c.get("/users", headers=admin)
            assert failed.status_code == 503, failed.text
            assert failed.json()["code"] == "database_unavailable"
            assert "replica is not ready" in failed.json()["detail"]
        assert (await c.get("/auth/me", headers=admin)).status_code == 200
