"""Redis when it answers, in-process limits when it does not: the same seams, switched per call.

A call counts in Redis when the link gives it a connection (`turn`), and in process when Redis is down or when
no connection freed up within the timeout (this worker is behind; Redis is not marked down for that).
"""

from __future__ import annotations

from authgate.domain.ratelimits import Admission, Limit
from authgate.ratelimit.memory import MemoryBackoff, MemoryRateLimiter
from authgate.ratelimit.redis import RedisBackoff, RedisLink, RedisRateLimiter


class FailoverRateLimiter:
    def __init__(self, link: RedisLink, primary: RedisRateLimiter, fallback: MemoryRateLimiter) -> None:
        self.link = link
        self.primary = primary
        self.fallback = fallback

    async def hit(self, limit: Limit, key: str) -> None:
        async with self.link.turn() as up:
            if up:
                return await self.primary.hit(limit, key)
        self.link.maybe_probe()
        await self.fallback.hit(limit, key)

    async def test(self, limit: Limit, key: str) -> bool:
        async with self.link.turn() as up:
            if up:
                return await self.primary.test(limit, key)
        self.link.maybe_probe()
        return await self.fallback.test(limit, key)

    async def clear(self, limit: Limit, key: str) -> None:
        await self.fallback.clear(limit, key)
        async with self.link.turn() as up:
            if up:
                await self.primary.clear(limit, key)


class FailoverBackoff:
    def __init__(self, link: RedisLink, primary: RedisBackoff, fallback: MemoryBackoff) -> None:
        self.link = link
        self.primary = primary
        self.fallback = fallback

    async def acquire(self, key: str, now: float) -> Admission:
        async with self.link.turn() as up:
            if up:
                return await self.primary.acquire(key, now)
        self.link.maybe_probe()
        return await self.fallback.acquire(key, now)

    async def reset(self, key: str) -> None:
        await self.fallback.reset(key)
        async with self.link.turn() as up:
            if up:
                await self.primary.reset(key)
