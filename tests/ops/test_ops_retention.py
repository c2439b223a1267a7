"""The retention sweep runs in the background of a serving worker (authgate/sweeper.py), and not at all with
AUTHGATE_RETENTION_SWEEP_INTERVAL=0."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest

from authgate.app import create_app
from helpers import bearer, login, make_settings, register


async def test_a_serving_worker_sweeps_what_is_over(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="authgate.retention")
    app = create_app(make_settings(database_url, retention_sweep_interval=1))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as c:
            await register(c, "alice")
            over, live = await login(c, "alice"), await login(c, "alice")
            sessions = (await c.get("/auth/sessions", headers=bearer(over["access_token"]))).json()["items"]
            ended_id = next(s["id"] for s in sessions if s["current"])
            assert (await c.post("/auth/logout", headers=bearer(over["access_token"]))).status_code == 204
            sweeper = app.services.sweeper
            assert sweeper is not None
            deadline = time.monotonic() + 10  # the first sweep comes 0.5 to 1.5 s after the start
            while sweeper.sweeps == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert sweeper.sweeps >= 1
            async with app.services.db.reader() as r:
                assert await r.sessions.get(ended_id) is None
            # The ended session's refresh token is gone with it: unknown now, refused all the same.
            gone = await c.post("/auth/refresh", json={"refresh_token": over["refresh_token"]})
            assert gone.status_code == 401 and gone.json()["code"] == "invalid_refresh_token"
            kept = await c.post("/auth/refresh", json={"refresh_token": live["refresh_token"]})
            assert kept.status_code == 200
        assert any(getattr(r, "event", None) == "retention_sweep" and r.sessions == 1 for r in caplog.records)  # type: ignore[attr-defined]
    finally:
        await app.shutdown()


async def test_no_sweeper_when_the_interval_is_zero(database_url: str) -> None:
    app = create_app(make_settings(database_url, retention_sweep_interval=0))
    await app.startup()
    try:
        assert app.services.sweeper is None
    finally:
        await app.shutdown()
