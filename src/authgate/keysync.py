"""Signing-key changes reach every worker of every instance: at once through Redis, and in any case soon.

Every worker holds its own key ring (the keys it signs and verifies with), loaded from the shared database.
A rotation (`authgate keys rotate`, on any machine) writes the new key there; then:

- with `AUTHGATE_REDIS_URL`, it is announced on the Redis channel `<AUTHGATE_REDIS_PREFIX>:keys`, and every
  worker of every instance, subscribed to it, reloads its key ring at once (a worker that reconnects to Redis
  reloads too, in case it missed an announcement);
- every worker also reloads on its own every `RELOAD_SECONDS` (and the JWKS endpoint every few seconds), so a
  lost announcement, or no Redis at all, costs only that delay.

The database stays the only source of truth: an announcement carries nothing but "reload".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from authgate import background

logger = logging.getLogger("authgate.keys")

RELOAD_SECONDS = 30.0
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)

Reload = Callable[[], Awaitable[None]]


class KeySync:
    def __init__(self, reload: Reload, redis_url: str | None = None, prefix: str = "authgate") -> None:
        self.reload = reload
        self.redis_url = redis_url
        self.channel = f"{prefix}:keys"
        self.reloads = 0
        """Key-ring reloads this worker did on an announcement (tests watch it)."""
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """In a serving worker: listen for announcements and reload periodically, in the background."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._reload_periodically()))
        if self.redis_url:
            self._tasks.append(loop.create_task(self._listen(self.redis_url)))

    async def announce(self) -> bool:
        """Tell every worker to reload (after a rotation was committed); False when Redis did not take it."""
        if not self.redis_url:
            return False
        import redis.asyncio  # only with AUTHGATE_REDIS_URL (a worker without it never imports redis)

        client = redis.asyncio.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            await client.publish(self.channel, b"reload")
        except (redis.RedisError, OSError) as exc:  # TimeoutError is an OSError
            logger.warning(
                "could not announce the key rotation through redis; workers will reload within %d s",
                int(RELOAD_SECONDS),
                extra={"event": "key_announce_failed", "error": f"{type(exc).__name__}: {exc}"[:300]},
            )
            return False
        finally:
            await client.aclose()
        return True

    async def close(self) -> None:
        await background.stop(*self._tasks)
        self._tasks.clear()

    async def _reload_quietly(self) -> None:
        try:
            await self.reload()
        except Exception as exc:  # the database may be down for a moment; the next reload will do
            logger.warning("reloading the signing keys failed: %s", f"{type(exc).__name__}: {exc}"[:300])

    async def _reload_periodically(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_SECONDS)
            await self._reload_quietly()

    async def _listen(self, url: str) -> None:
        import redis.asyncio

        errors = (redis.RedisError, OSError)
        failures = 0
        while True:
            client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=15)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if failures:
                    logger.info("listening for key rotations on redis again", extra={"event": "key_sync_restored"})
                    await self._reload_quietly()  # what was announced while we were away
                failures = 0
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.reloads += 1
                        await self._reload_quietly()
            except errors as exc:
                if failures == 0:
                    logger.warning(
                        "redis unreachable: key rotations reach this worker within %d s instead of at once",
                        int(RELOAD_SECONDS),
                        extra={"event": "key_sync_degraded", "error": f"{type(exc).__name__}: {exc}"[:300]},
                    )
                failures += 1
            finally:
                with contextlib.suppress(*errors):
                    await cast("Any", pubsub).aclose()
                with contextlib.suppress(*errors):
                    await client.aclose()
            await asyncio.sleep(RECONNECT_SECONDS[max(0, min(failures, len(RECONNECT_SECONDS)) - 1)])
