"""PostgreSQL's change feed: which users' accounts or sessions changed, whichever process changed them.

A connection of its own (not the pool's) LISTENs on the channel that migration 0007's triggers notify at commit,
with the id of the user whose row, or one of whose sessions, changed. The listener (the worker's session cache,
`domain/session_cache.py`) forgets that user's entries. It is `live` only while the feed is connected: when the
connection is lost, or stops answering the health check, everything is forgotten and nothing is cached until
the feed is back (a change made meanwhile reaches no one), and on reconnecting everything is forgotten again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from authgate import background
from authgate.storage.base import ChangeListener

logger = logging.getLogger("authgate.storage")

CHANNEL = "authgate_user_changed"
APPLICATION_NAME = "authgate change feed"
"""How the feed's connection shows in pg_stat_activity."""
HEALTH_SECONDS = 5.0
"""How often the feed's connection is asked `SELECT 1`; it has as long to answer before it counts as lost."""
RECONNECT_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)


class PostgresChangeFeed:
    def __init__(self, url: str, listener: ChangeListener) -> None:
        self.url = url
        self.listener = listener
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    def start(self) -> None:
        """In a serving worker: listen in the background, reconnecting for as long as the worker lives."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait_live(self, timeout: float) -> bool:
        """Wait (up to `timeout` seconds) for the feed to be connected; whether it is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self.listener.live

    async def close(self) -> None:
        await background.stop(self._task)
        self._task = None

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self.listener.forget_user(payload)

    async def _run(self) -> None:
        failures = 0
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.url,
                    command_timeout=HEALTH_SECONDS,
                    timeout=HEALTH_SECONDS,
                    server_settings={"application_name": APPLICATION_NAME},
                )
                await self._listen(conn, restored=failures > 0)
            except _ERRORS as exc:
                if self._connected.is_set():  # it had been live: a new outage begins
                    failures = 0
                if failures == 0:
                    logger.warning(
                        "the session cache's change feed is down: every request checks its session in the"
                        " database until it is back",
                        extra={"event": "change_feed_lost", "error": f"{type(exc).__name__}: {exc}"[:300]},
                    )
                failures += 1
            finally:
                self.listener.live = False
                self.listener.forget_all()
                self._connected.clear()
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS)) - 1])

    async def _listen(self, conn: asyncpg.Connection, restored: bool) -> None:
        """Until the connection is lost (then raise), or stops answering the health check."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(CHANNEL, self._notified)
        self.listener.forget_all()  # whatever changed before this moment reached no one
        self.listener.live = True
        self._connected.set()
        if restored:
            logger.info("the session cache's change feed is back", extra={"event": "change_feed_restored"})
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), HEALTH_SECONDS)
            if not lost.is_set():
                await conn.fetchval("SELECT 1")
        raise ConnectionError("the connection was closed")
