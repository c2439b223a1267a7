"""A deadline for receiving a request's body, so that a client sending it slowly cannot keep its request open.

Granian cuts a client that is slow to send its headers (AUTHGATE_HEADER_READ_TIMEOUT is its HTTP/1 header read
timeout) but not one that is slow to send the body: without a deadline, a client sending one byte a second holds
its connection and its request for as long as it likes. Each body read is registered here with its deadline
(AUTHGATE_BODY_READ_TIMEOUT after the read began); a sweep once a second cancels the reads past theirs, which
then raise `RequestTimeout` (408 `request_timeout`, and the connection is closed).

A dict entry per read, not a timer per read: `asyncio.timeout()` costs about 10 µs a request on uvloop, a dict
insert and delete well under 1 µs. The registry is per worker process, like the token cache; what belongs to
one request stays in its own call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from authgate import background
from authgate.errors import RequestTimeout

T = TypeVar("T")

SWEEP_SECONDS = 1.0


class BodyDeadlines:
    __slots__ = ("_expired", "_reading", "_sweeper", "interval", "timeout")

    def __init__(self, timeout: float, interval: float = SWEEP_SECONDS) -> None:
        self.timeout = timeout
        self.interval = min(interval, timeout)
        self._reading: dict[asyncio.Task[Any], float] = {}
        """The tasks reading a body now, with their deadlines."""
        self._expired: set[asyncio.Task[Any]] = set()
        """Tasks cancelled by the sweep whose read has not yet seen the cancellation."""
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin sweeping (in the worker's event loop); until then, and after `close()`, reads have no deadline."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def close(self) -> None:
        await background.stop(self._sweeper)
        self._sweeper = None

    async def read(self, body: Awaitable[T]) -> T:
        """Await `body`; RequestTimeout when it takes longer than the timeout (give or take a sweep)."""
        task = asyncio.current_task()
        if task is None or self._sweeper is None:
            return await body
        self._reading[task] = time.monotonic() + self.timeout
        try:
            return await body
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            self._expired.discard(task)
            if task.uncancel():  # cancelled for another reason too (the worker is stopping): honour that
                raise
            raise RequestTimeout(f"The request body did not arrive within {self.timeout:g} s") from None
        finally:
            del self._reading[task]
            self._expired.discard(task)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            late = [task for task, deadline in self._reading.items() if deadline <= now]
            for task in late:
                if task not in self._expired:
                    self._expired.add(task)
                    task.cancel()
