"""The worker's CPU for one Redis call with authgate's own rate limiter and back-off (docs/abuse.md quotes it).

Each call counts the process's CPU time (`time.process_time`) over 30 bursts of 64 calls at once, the way a busy
worker makes them, through the same `RedisLink` and its pool as the server, against the Redis at `--url`. Pin it
to one core with Redis on the other: `taskset -c 0 python bench/rediscost.py`. It writes under a prefix of its
own and deletes it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from authgate.config import load_settings
from authgate.domain.ratelimits import Limit, Rate
from authgate.ratelimit import RateLimiting, start_rate_limiting

BURSTS, AT_ONCE = 30, 64


async def cpu_us_per_call(call: Callable[[int], Awaitable[object]], rounds: int) -> float:
    """Median over `rounds` of the CPU microseconds a call took."""
    per_round = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(BURSTS):
            await asyncio.gather(*(call(i) for i in range(AT_ONCE)))
        per_round.append((time.process_time() - started) / (BURSTS * AT_ONCE) * 1e6)
    return statistics.median(per_round)


async def measure(url: str, rounds: int) -> dict[str, float]:
    prefix = f"authgate-rediscost-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        {}, database_url="sqlite:///unused.db", redis_url=url, redis_prefix=prefix,
        rate_limits="login:ip=100000/minute",
    )
    limiting: RateLimiting = await start_rate_limiting(settings)
    link, backoff = limiting.link, limiting.backoff
    if link is None or backoff is None or not link.available:
        raise SystemExit(f"Redis at {url} does not answer")
    limit = Limit("login", "ip", Rate(100_000, "minute"))

    async def ping(i: int) -> None:
        async with link.turn() as up:  # as the limiter's calls do: at most the pool's size at once
            if up:
                await link.client.ping()

    try:
        return {
            "ping": await cpu_us_per_call(ping, rounds),
            "rate_limit_hit": await cpu_us_per_call(lambda i: limiting.limits.limiter.hit(limit, f"k{i}"), rounds),
            "backoff_acquire": await cpu_us_per_call(lambda i: backoff.acquire(f"b{i}", time.time()), rounds),
        }
    finally:
        keys = [key async for key in link.client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await link.client.delete(*keys)
        await limiting.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for name, us in asyncio.run(measure(args.url, args.rounds)).items():
        print(f"{name}: {us:.1f} µs of CPU a call")


if __name__ == "__main__":
    main()
