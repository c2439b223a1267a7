"""Redis when it answers, in-process limits when it does not: the same seams, switched per call."""

from __future__ import annotations

from authgate.domain.ratelimits import Admission, Limit
from authgate.ratelimit.memory import MemoryBackoff, MemoryRateLimiter
from authgate.ratelimit.redis import REDIS_ERRORS, RedisBackoff, RedisLink, RedisRateLimiter


class FailoverRateLimiter:
    def __init__(self, link: RedisLink, primary: RedisRateLimiter, fallback: MemoryRateLimiter) -> None:
        self.link = link
        self.primary = primary
        self.fallback = fallback

    async def hit(self, limit: Limit, key: str) -> None:
        if self.link.available:
            try:
                return await self.primary.hit(limit, key)
            except REDIS_ERRORS as exc:
                self.link.down(exc)
        self.link.maybe_probe()
        await self.fallback.hit(limit, key)

    async def test(self, limit: Limit, key: str) -> bool:
        if self.link.available:
            try:
                return await self.primary.test(limit, key)
            except REDIS_ERRORS as exc:
                self.link.down(exc)
        self.link.maybe_probe()
        return await self.fallback.test(limit, key)

    async def clear(self, limit: Limit, key: str) -> None:
        await self.fallback.clear(limit, key)
        if self.link.available:
            try:
                await self.primary.clear(limit, key)
            except REDIS_ERRORS as exc:
                self.link.down(exc)


class FailoverBackoff:
    def __init__(self, link: RedisLink, primary: RedisBackoff, fallback: MemoryBackoff) -> None:
        self.link = link
        self.primary = primary
        self.fallback = fallback

    async def acquire(self, key: str, now: float) -> Admission:
        if self.link.available:
            try:
                return await self.primary.acquire(key, now)
            except REDIS_ERRORS as exc:
                self.link.down(exc)
        self.link.maybe_probe()
        return await self.fallback.acquire(key, now)

    async def reset(self, key: str) -> None:
        await self.fallback.reset(key)
        if self.link.available:
            try:
                await self.primary.reset(key)
            except REDIS_ERRORS as exc:
                self.link.down(exc)
