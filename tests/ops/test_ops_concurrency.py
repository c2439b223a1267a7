"""How many requests a worker of `authgate serve` handles at once (AUTHGATE_WORKER_CONCURRENCY, Granian's
backpressure): past it, a request waits unread until one in flight ends, and is then answered."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from liveserver import authgate, live_server

pytestmark = pytest.mark.slow

REQUESTS = 12


async def _all_at_once(url: str) -> tuple[list[int], float]:
    """Send REQUESTS requests to the 10 ms I/O endpoint together, each on its own connection."""
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        started = time.perf_counter()
        answers = await asyncio.gather(*(client.get("/bench/io") for _ in range(REQUESTS)))
        return [a.status_code for a in answers], time.perf_counter() - started


async def test_one_at_a_time_answers_every_request_in_turn(tmp_path: Path) -> None:
    env = {
        "AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/authgate.db",
        "AUTHGATE_BENCH_ENDPOINTS": "true",
        "AUTHGATE_WORKER_CONCURRENCY": "1",
    }
    with live_server(env, tmp_path) as server:
        statuses, seconds = await _all_at_once(server.url)
    assert statuses == [200] * REQUESTS
    # Each request sleeps 10 ms: handled one at a time, they cannot all be done in less than REQUESTS * 10 ms.
    assert seconds >= REQUESTS * 0.010


def test_the_setting_is_bounded(tmp_path: Path) -> None:
    result = authgate(
        "serve", env={"AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/a.db", "AUTHGATE_WORKER_CONCURRENCY": "0"}
    )
    assert result.returncode == 2
    assert "AUTHGATE_WORKER_CONCURRENCY" in result.stderr
