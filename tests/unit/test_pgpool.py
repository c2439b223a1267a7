"""The connection pool's bookkeeping, with stand-in connections (tests/contract/test_pgpool_postgres.py runs it
against a real PostgreSQL)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from authgate.storage.pgpool import ConnectionPool, PoolClosed


class FakeConnection:
    ids = itertools.count(1)

    def __init__(self) -> None:
        self.id = next(self.ids)
        self.closed = False
        self.in_transaction = False
        self.terminated = False

    def is_closed(self) -> bool:
        return self.closed

    def is_in_transaction(self) -> bool:
        return self.in_transaction

    def terminate(self) -> None:
        self.closed = self.terminated = True

    async def close(self, timeout: float | None = None) -> None:
        self.closed = True


class Connector:
    def __init__(self) -> None:
        self.opened: list[FakeConnection] = []
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> FakeConnection:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise OSError("connection refused")
        conn = FakeConnection()
        self.opened.append(conn)
        return conn


def make_pool(connect: Connector, **kwargs: float) -> ConnectionPool:
    options = {"max_size": 2, "min_size": 1, "acquire_timeout": 0.2, "idle_lifetime": 300.0, **kwargs}
    return ConnectionPool(connect, **options)  # type: ignore[arg-type]


async def test_open_makes_min_size_connections_and_reuses_them() -> None:
    connect = Connector()
    pool = make_pool(connect)
    await pool.open()
    assert (pool.size, pool.idle, len(connect.opened)) == (1, 1, 1)
    first = await pool.acquire()
    pool.release(first)
    again = await pool.acquire()
    assert again is first and len(connect.opened) == 1
    pool.release(again)
    await pool.close()


async def test_opens_on_demand_up_to_max_size_then_waits_for_a_release() -> None:
    connect = Connector()
    pool = make_pool(connect)
    await pool.open()
    a, b = await pool.acquire(), await pool.acquire()
    assert pool.size == 2 and len(connect.opened) == 2
    waiting = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    assert not waiting.done()
    pool.release(a)
    assert await waiting is a  # handed over directly, not through the idle list
    assert pool.idle == 0
    pool.release(b)
    pool.release(a)
    assert pool.size == 2
    await pool.close()


async def test_a_wait_past_the_timeout_raises_timeout_error_and_leaves_no_waiter() -> None:
    pool = make_pool(Connector(), max_size=1)
    await pool.open()
    held = await pool.acquire()
    with pytest.raises(TimeoutError):
        await pool.acquire()
    pool.release(held)
    assert pool.idle == 1  # the timed-out waiter did not swallow it
    assert await pool.acquire() is held
    pool.release(held)
    await pool.close()


async def test_a_cancelled_waiter_passes_on_a_connection_handed_to_it() -> None:
    pool = make_pool(Connector(), max_size=1)
    await pool.open()
    held = await pool.acquire()
    first = asyncio.ensure_future(pool.acquire())
    second = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    pool.release(held)  # handed to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second is held
    pool.release(held)
    await pool.close()


@pytest.mark.parametrize("how", ["broken", "closed", "in_transaction"])
async def test_a_broken_connection_is_dropped_and_replaced(how: str) -> None:
    connect = Connector()
    pool = make_pool(connect, max_size=1)
    await pool.open()
    conn = await pool.acquire()
    if how == "closed":
        conn.closed = True
    if how == "in_transaction":
        conn.in_transaction = True
    pool.release(conn, broken=how == "broken")
    assert conn.is_closed() and pool.size == 0 and pool.idle == 0
    fresh = await pool.acquire()
    assert fresh is not conn and pool.size == 1
    pool.release(fresh)
    await pool.close()


async def test_an_idle_connection_that_died_is_skipped() -> None:
    connect = Connector()
    pool = make_pool(connect)
    await pool.open()
    conn = await pool.acquire()
    pool.release(conn)
    conn.closed = True  # the server went away while it was idle
    fresh = await pool.acquire()
    assert fresh is not conn and pool.size == 1
    pool.release(fresh)
    await pool.close()


async def test_a_dropped_connection_gives_its_slot_to_a_waiter() -> None:
    connect = Connector()
    pool = make_pool(connect, max_size=1)
    await pool.open()
    conn = await pool.acquire()
    waiting = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    pool.release(conn, broken=True)
    fresh = await waiting
    assert fresh is not conn and pool.size == 1 and len(connect.opened) == 2
    pool.release(fresh)
    await pool.close()


async def test_a_failed_connect_frees_its_slot() -> None:
    connect = Connector()
    pool = make_pool(connect, max_size=1, min_size=0)
    connect.fail = True
    with pytest.raises(OSError):
        await pool.acquire()
    assert pool.size == 0
    connect.fail = False
    conn = await pool.acquire()  # the server is back: no restart needed
    assert pool.size == 1
    pool.release(conn)
    await pool.close()


async def test_open_fails_when_the_server_cannot_be_reached() -> None:
    connect = Connector()
    connect.fail = True
    pool = make_pool(connect, min_size=2)
    with pytest.raises(OSError):
        await pool.open()
    assert pool.size == 0


async def test_close_refuses_acquires_fails_waiters_and_closes_what_comes_back() -> None:
    connect = Connector()
    pool = make_pool(connect, max_size=1)
    await pool.open()
    held = await pool.acquire()
    waiting = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    await pool.close()
    with pytest.raises(PoolClosed):
        await waiting
    with pytest.raises(PoolClosed):
        await pool.acquire()
    pool.release(held)
    assert held.is_closed() and pool.size == 0


async def test_idle_connections_beyond_min_size_are_closed_after_their_lifetime() -> None:
    connect = Connector()
    pool = make_pool(connect, max_size=3, min_size=1, idle_lifetime=0.2)
    await pool.open()
    conns = [await pool.acquire() for _ in range(3)]
    for conn in conns:
        pool.release(conn)
    assert pool.size == 3
    for _ in range(50):
        await asyncio.sleep(0.05)
        if pool.size == 1:
            break
    assert pool.size == 1 and pool.idle == 1
    assert sum(c.is_closed() for c in conns) == 2
    await pool.close()
    assert all(c.is_closed() for c in conns)
