"""A small pool of asyncpg connections, for the request path.

asyncpg's own `Pool` costs about 30 µs of CPU per acquire and release on this project's machines, more than
the point query it wraps (about 20 µs): it runs the acquire in a task for its timeout, the release in
`asyncio.shield` (another task), arms a timer on every release and wraps each connection in a proxy. Here an
idle connection is taken and given back with a deque operation: no task, no timer, no await. Only a caller
that must wait for a connection makes a future (bounded by `acquire_timeout`), and only a missing connection
is opened.

What it keeps of asyncpg's pool: at most `max_size` connections, opened when needed; `min_size` of them kept
open; idle ones beyond that closed after `idle_lifetime` seconds; a broken one dropped on release (the next
acquire opens a fresh one, so the pool recovers by itself once the server is back); a closed pool refusing
acquires. What a connection carries between uses is the caller's business: `release()` only checks that no
transaction was left open.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

import asyncpg

Connect = Callable[[], Awaitable[asyncpg.Connection]]


class PoolClosed(asyncpg.InterfaceError):  # type: ignore[misc]  # asyncpg has no type hints
    """The pool was closed (the worker is shutting down)."""


class ConnectionPool:
    __slots__ = (
        "_acquire_timeout",
        "_closed",
        "_closing",
        "_connect",
        "_idle",
        "_idle_lifetime",
        "_max_size",
        "_min_size",
        "_size",
        "_sweeper",
        "_waiters",
    )

    def __init__(
        self,
        connect: Connect,
        *,
        max_size: int,
        min_size: int = 1,
        acquire_timeout: float = 5.0,
        idle_lifetime: float = 300.0,
    ) -> None:
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(f"need 0 <= min_size <= max_size and max_size >= 1, got {min_size}, {max_size}")
        self._connect = connect
        self._max_size = max_size
        self._min_size = min_size
        self._acquire_timeout = acquire_timeout
        self._idle_lifetime = idle_lifetime
        self._idle: deque[tuple[float, asyncpg.Connection]] = deque()  # (released at, connection), oldest first
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._size = 0  # open connections plus those being opened
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def size(self) -> int:
        """Connections open or being opened."""
        return self._size

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def open(self) -> None:
        """Open `min_size` connections now, so that a server that cannot be reached fails the start."""
        opened: list[asyncpg.Connection] = []
        try:
            while self._size < self._min_size:
                opened.append(await self._open())
        finally:
            for conn in opened:
                self.release(conn)
        self._schedule_sweep()

    async def acquire(self) -> asyncpg.Connection:
        if self._closed:
            raise PoolClosed("the connection pool is closed")
        idle = self._idle
        while idle:
            conn = idle.pop()[1]  # the most recently used: the others may age out
            if not conn.is_closed():
                return conn
            self._size -= 1
        if self._size < self._max_size:
            return await self._open()
        return await self._wait()

    def release(self, conn: asyncpg.Connection, *, broken: bool = False) -> None:
        """Give a connection back; `broken`: its state is unknown (an error or a cancellation mid-statement),
        so it is closed rather than reused."""
        if broken or self._closed or conn.is_closed() or conn.is_in_transaction():
            conn.terminate()
            self._give_slot()
            return
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append((time.monotonic(), conn))

    async def close(self) -> None:
        """Refuse new acquires, fail the waiting ones, close the idle connections (those in use are closed when
        they come back)."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the connection pool is closed"))
        idle, self._idle = self._idle, deque()
        self._size -= len(idle)
        await asyncio.gather(*(_close(conn) for _, conn in idle))
        if self._closing:
            await asyncio.gather(*self._closing)

    async def _open(self) -> asyncpg.Connection:
        self._size += 1
        try:
            return await self._connect()
        except BaseException:
            self._give_slot()
            raise

    async def _wait(self) -> asyncpg.Connection:
        waiter: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._acquire_timeout):
                conn = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a connection (or a slot) just as the wait ended: pass it on.
                handed = waiter.result()
                if handed is None:
                    self._give_slot()
                else:
                    self.release(handed)
            else:
                waiter.cancel()
            raise
        if conn is None:  # a slot came free: open a connection in it
            self._size -= 1
            return await self._open()
        return conn

    def _give_slot(self) -> None:
        """A connection is gone: a waiter may open one in its place."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot stays counted: the waiter takes it over
                return
        self._size -= 1

    def _schedule_sweep(self) -> None:
        if not self._closed and self._idle_lifetime > 0:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(self._idle_lifetime / 4, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle for longer than `idle_lifetime`, keeping `min_size` open."""
        deadline = time.monotonic() - self._idle_lifetime
        idle = self._idle
        while idle and idle[0][0] < deadline and self._size > self._min_size:
            conn = idle.popleft()[1]
            self._size -= 1
            task = asyncio.ensure_future(_close(conn))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        self._schedule_sweep()


async def _close(conn: asyncpg.Connection) -> None:
    """Close politely (the server sees a Terminate, not a reset), or drop it if that fails."""
    try:
        await conn.close(timeout=2)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):  # TimeoutError is an OSError
        conn.terminate()
