"""PostgreSQL's change feed keeps the session cache true: changes from any connection reach it at commit (and
rolled-back ones never do), this process's own as they commit, and a lost feed empties the cache until it is
back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from authgate.domain.session_cache import SessionCache
from authgate.storage.base import ChangeFeed
from authgate.storage.postgres import PostgresDatabase
from authgate.storage.postgres_changes import APPLICATION_NAME
from contract.test_stores import make_session, make_user
from helpers import PostgresDatabases

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(postgres_databases: PostgresDatabases) -> str:
    return postgres_databases.create()


@pytest.fixture
async def fed(url: str) -> AsyncIterator[tuple[PostgresDatabase, SessionCache, ChangeFeed]]:
    db = PostgresDatabase(url)
    await db.connect()
    await db.migrate()
    cache = SessionCache(ttl=60)
    feed = db.change_feed(cache)
    feed.start()
    assert await feed.wait_live(10)
    yield db, cache, feed
    await feed.close()
    await db.close()


async def _cached_session(db: PostgresDatabase, cache: SessionCache, name: str) -> tuple[str, str]:
    user = make_user(name)
    session, token, _ = make_session(user)
    async with db.transaction() as tx:
        await tx.users.add(user)
        await tx.sessions.add(session, token)
    async with db.reader() as r:
        found = await r.sessions.get_with_user(session.id)
    assert found is not None
    cache.put(*found, cache.generation)
    assert cache.get(session.id) is not None
    return user.id, session.id


async def _forgotten(cache: SessionCache, session_id: str, within: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while cache.get(session_id) is not None:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE users SET disabled = true WHERE id = $1",
        "UPDATE users SET roles = '{}' WHERE id = $1",
        "DELETE FROM users WHERE id = $1",
        "UPDATE sessions SET ended_at = now() WHERE user_id = $1",
        "DELETE FROM sessions WHERE user_id = $1",
    ],
)
async def test_a_change_from_another_connection_reaches_the_cache(
    fed: tuple[PostgresDatabase, SessionCache, ChangeFeed], url: str, sql: str
) -> None:
    db, cache, _ = fed
    user_id, session_id = await _cached_session(db, cache, "alice")
    other = await asyncpg.connect(url)  # another instance, or an operator's psql
    try:
        await other.execute(sql, user_id)
    finally:
        await other.close()
    assert await _forgotten(cache, session_id)


async def test_a_change_rolled_back_is_not_told_and_a_refresh_is_not_a_change(
    fed: tuple[PostgresDatabase, SessionCache, ChangeFeed], url: str
) -> None:
    db, cache, _ = fed
    user_id, session_id = await _cached_session(db, cache, "bob")
    generation = cache.generation
    other = await asyncpg.connect(url)
    try:
        undone = other.transaction()
        await undone.start()
        await other.execute("UPDATE users SET disabled = true WHERE id = $1", user_id)
        await undone.rollback()
        await other.execute("UPDATE sessions SET last_used_at = now() WHERE user_id = $1", user_id)
        # A marker after both, on the same channel: once it is in, anything they sent would be in too.
        await other.execute("SELECT pg_notify('authgate_user_changed', 'marker')")
    finally:
        await other.close()
    deadline = asyncio.get_running_loop().time() + 5
    while cache.generation == generation and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.005)
    assert cache.generation == generation + 1  # the marker alone
    assert cache.get(session_id) is not None


async def test_this_process_changes_are_forgotten_as_they_commit(
    fed: tuple[PostgresDatabase, SessionCache, ChangeFeed],
) -> None:
    db, cache, _ = fed
    _, session_id = await _cached_session(db, cache, "carol")
    async with db.transaction() as tx:
        assert await tx.sessions.end(session_id, make_user("x").created_at)
        assert cache.get(session_id) is not None  # not before the commit
    assert cache.get(session_id) is None  # at once, without waiting for the notification
    _, second = await _cached_session(db, cache, "dave")
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.sessions.end(second, make_user("x").created_at)
            raise RuntimeError("rolled back")
    assert cache.get(second) is not None


async def test_a_lost_feed_empties_the_cache_and_it_is_filled_again_once_the_feed_is_back(
    fed: tuple[PostgresDatabase, SessionCache, ChangeFeed], url: str
) -> None:
    db, cache, feed = fed
    _, session_id = await _cached_session(db, cache, "erin")
    admin = await asyncpg.connect(url)
    try:
        ended = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1"
            " AND datname = current_database()",
            APPLICATION_NAME,
        )
    finally:
        await admin.close()
    assert len(ended) == 1
    deadline = asyncio.get_running_loop().time() + 5
    while cache.live and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.005)
    assert cache.get(session_id) is None and len(cache) == 0
    assert await feed.wait_live(10)  # it reconnects by itself
    _, again = await _cached_session(db, cache, "frank")
    assert cache.get(again) is not None
