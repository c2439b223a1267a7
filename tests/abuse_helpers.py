"""Apps with the limits under test, and clients that come from chosen IP addresses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from authgate.app import App, create_app
from conftest import make_settings

ADMIN_PASSWORD = "root-password-long-enough"


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
