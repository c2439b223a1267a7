"""Rate limiting and login back-off, built from the settings once per worker (see `domain/ratelimits.py`).

With `AUTHGATE_REDIS_URL`, every worker of every instance counts in Redis, exactly; without it (or while Redis
does not answer) each worker process counts on its own. `/health/ready` and the logs say which.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from authgate.config import Settings
from authgate.domain.ratelimits import (
    DEFAULT_RATE_LIMITS,
    Backoff,
    BackoffPolicy,
    RateLimiter,
    RateLimits,
    describe,
    parse_rate_limits,
)
from authgate.ratelimit.memory import MemoryBackoff, MemoryRateLimiter

if TYPE_CHECKING:  # redis is imported only with AUTHGATE_REDIS_URL
    from authgate.ratelimit.redis import RedisLink

logger = logging.getLogger("authgate.ratelimit")

DEGRADED = "degraded: in-process (redis unreachable)"


class RateLimiting:
    """What `Services` holds: the limits, the login back-off, and where they are counted."""

    def __init__(
        self, limits: RateLimits, backoff: Backoff | None, policy: BackoffPolicy, link: RedisLink | None
    ) -> None:
        self.limits = limits
        self.backoff = backoff
        self.policy = policy
        self.link = link

    @property
    def degraded(self) -> bool:
        """Redis is configured but not answering: limits are per process (a metric and /health/ready say so)."""
        return self.link is not None and not self.link.available

    def status(self) -> str:
        if not self.limits.enabled:
            return "disabled"
        if self.link is None:
            return "ok: in-process (no redis configured)"
        return DEGRADED if not self.link.available else "ok"

    async def check(self) -> str:
        """The status, asking Redis first when it was not asked recently (for /health/ready)."""
        if self.link is not None:
            await self.link.check()
        return self.status()

    async def close(self) -> None:
        if self.link is not None:
            await self.link.close()


def backoff_policy(settings: Settings) -> BackoffPolicy:
    return BackoffPolicy(
        threshold=settings.login_backoff_after,
        cap=settings.login_backoff_max,
        forget_after=max(3600, 4 * settings.login_backoff_max),
    )


async def start_rate_limiting(settings: Settings) -> RateLimiting:
    policy = backoff_policy(settings)
    limits = parse_rate_limits(settings.rate_limits, parse_rate_limits(DEFAULT_RATE_LIMITS))
    if not settings.rate_limit_enabled:
        logger.warning("rate limits and login back-off are disabled (AUTHGATE_RATE_LIMIT_ENABLED=false)")
        return RateLimiting(RateLimits(MemoryRateLimiter(), {}, enabled=False), None, policy, None)
    limiter: RateLimiter
    backoff: Backoff
    link = None
    if settings.redis_url:
        from authgate.ratelimit.failover import FailoverBackoff, FailoverRateLimiter
        from authgate.ratelimit.redis import RedisBackoff, RedisLink, RedisRateLimiter

        link = RedisLink(
            settings.redis_url,
            settings.redis_prefix,
            timeout=settings.redis_timeout_ms / 1000,
            pool_size=settings.redis_pool_size,
        )
        limiter = FailoverRateLimiter(link, RedisRateLimiter(link), MemoryRateLimiter())
        backoff = FailoverBackoff(link, RedisBackoff(link, policy), MemoryBackoff(policy))
        await link.start()
    else:
        limiter, backoff = MemoryRateLimiter(), MemoryBackoff(policy)
    logger.info(
        "rate limits: %s; login back-off after %d attempts, up to %d s; counted %s",
        describe(limits),
        policy.threshold,
        policy.cap,
        "in redis" if link is not None else "per process",
        extra={"event": "ratelimit_config"},
    )
    return RateLimiting(RateLimits(limiter, limits, enabled=True), backoff, policy, link)
