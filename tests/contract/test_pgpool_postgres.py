"""The connection pool against a real PostgreSQL: connections the server ends, a pool that is used up, statement
errors and cancellations; each time the pool carries on by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from authgate.errors import DatabaseUnavailable, UsernameTaken
from authgate.storage.postgres import PostgresDatabase
from contract.test_stores import make_user
from helpers import PostgresDatabases

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(postgres_databases: PostgresDatabases) -> str:
    return postgres_databases.create()


@pytest.fixture
async def db(url: str) -> AsyncIterator[PostgresDatabase]:
    database = PostgresDatabase(url, pool_size=2, acquire_timeout=0.3)
    await database.connect()
    await database.migrate()
    yield database
    await database.close()


async def _backend_pids(db: PostgresDatabase) -> set[int]:
    conn = await asyncpg.connect(db.url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {r[0] for r in rows}


async def _terminate_backends(db: PostgresDatabase) -> int:
    conn = await asyncpg.connect(db.url)
    try:
        return len(
            await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


async def _count_users(db: PostgresDatabase) -> int:
    async with db.reader() as r:
        count: int = await r.users.conn.fetchval("SELECT count(*) FROM users")
    return count


async def test_connections_ended_by_the_server_fail_once_at_most_then_the_pool_reconnects(
    db: PostgresDatabase,
) -> None:
    async with db.transaction() as tx:
        await tx.users.add(make_user("alice"))
    assert await _terminate_backends(db) >= 1
    outcomes = []
    for _ in range(4):
        try:
            outcomes.append(await _count_users(db))
        except DatabaseUnavailable:
            outcomes.append("unavailable")
    # The idle connection the server killed answers 503 at most once (if the worker had not yet seen it close);
    # then a fresh one is opened: no restart.
    assert outcomes[1:] == [1, 1, 1]
    assert outcomes[0] in (1, "unavailable")


async def test_a_used_up_pool_answers_unavailable_after_its_timeout_and_serves_again_after(
    db: PostgresDatabase,
) -> None:
    async with db.reader() as a, db.reader() as b:
        assert (await a.users.conn.fetchval("SELECT 1"), await b.users.conn.fetchval("SELECT 1")) == (1, 1)
        with pytest.raises(DatabaseUnavailable):
            async with db.reader():
                pass
    assert await _count_users(db) == 0


async def test_a_statement_error_keeps_the_connection_and_rolls_back(db: PostgresDatabase) -> None:
    async with db.transaction() as tx:
        await tx.users.add(make_user("alice"))
    before = await _backend_pids(db)
    clash = make_user("ALICE")
    clash.email = "other@example.com"
    with pytest.raises(UsernameTaken):
        async with db.transaction() as tx:
            await tx.users.add(make_user("bob"))
            await tx.users.add(clash)
    assert await _count_users(db) == 1  # bob rolled back with the clash
    assert await _backend_pids(db) == before  # the same connections, none dropped


async def test_a_statement_cancelled_midway_drops_its_connection(db: PostgresDatabase) -> None:
    async def slow() -> None:
        async with db.transaction() as tx:
            await tx.users.add(make_user("carol"))
            await tx.users.conn.execute("SELECT pg_sleep(5)")

    task = asyncio.ensure_future(slow())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _count_users(db) == 0  # never committed
    async with db.transaction() as tx:  # and the pool carries on
        await tx.users.add(make_user("dave"))
    assert await _count_users(db) == 1


async def test_a_server_that_is_down_at_start_fails_the_connect() -> None:
    db = PostgresDatabase("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(DatabaseUnavailable):
        await db.connect()
