"""Apps with the limits under test, and clients that come from chosen IP addresses."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from authgate.app import App, create_app
from authgate.config import Settings, load_settings

ADMIN_PASSWORD = "root-password-long-enough"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """As conftest's make_settings (importing conftest by name is ambiguous when the whole suite runs)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "access_log": False,
        "password_hash_memory_kib": 64,
        "password_hash_time_cost": 1,
        "hash_pool_size": 2,
        "rate_limits": "login:ip=100000/minute,account=100000/hour;register:ip=100000/minute;"
        "refresh:ip=100000/minute;email:ip=100000/minute,account=100000/hour;mfa:ip=100000/minute,account=100000/hour",
        "login_backoff_after": 1000,
        **overrides,
    }
    return load_settings({}, **values)


@contextlib.asynccontextmanager
async def started(database_url: str, **overrides: Any) -> AsyncIterator[App]:
    app = create_app(make_settings(database_url, **overrides))
    await app.startup()
    try:
        yield app
    finally:
        await app.shutdown()


def client_from(app: App, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://authgate.test")


async def make_admin(app: App, name: str = "root", password: str = ADMIN_PASSWORD) -> dict[str, str]:
    """An admin created directly (as `authgate create-user --admin` does); its bearer header."""
    await app.services.auth.register(name, f"{name}@example.com", password, roles=("admin", "user"), by_admin=True)
    async with client_from(app, "192.0.2.250") as c:
        response = await c.post("/auth/login", json={"username": name, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


def problem_shape(response: httpx.Response) -> tuple[int, str | None, str | None, str]:
    """What a client can tell responses apart by (everything but the request id)."""
    body = response.json()
    return response.status_code, body.get("code"), response.headers.get("retry-after"), body.get("detail", "")


REDIS_URL = os.environ.get("AUTHGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def need_redis() -> str:
    """The test Redis (AUTHGATE_TEST_REDIS_URL or 127.0.0.1:6379); skipped when unreachable, failed in CI."""
    host, port = "127.0.0.1", 6379
    if REDIS_URL.startswith("redis://"):
        where = REDIS_URL.removeprefix("redis://").split("/", 1)[0].rsplit("@", 1)[-1]
        host, _, port_text = where.partition(":")
        port = int(port_text or 6379)
    try:
        with socket.create_connection((host, port), timeout=1):
            return REDIS_URL
    except OSError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable, and CI must test against it")
        pytest.skip("Redis is not reachable")


def unique_prefix() -> str:
    """A Redis key prefix of this test's own, so that parallel test runs never share a counter."""
    return f"authgate-test-{uuid.uuid4().hex[:12]}"


async def drop_prefix(url: str, prefix: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
