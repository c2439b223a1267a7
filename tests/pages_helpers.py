"""Helpers for the browser-page tests: read a form's CSRF token, register and sign in through the forms."""

from __future__ import annotations

import re

import httpx

from helpers import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'"
)


def csrf_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, html[:2000]
    return match[1]


async def form_token(client: httpx.AsyncClient, path: str = "/login") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text[:2000]
    return csrf_token(page.text)


async def register_form(client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD) -> None:
    token = await form_token(client, "/register")
    response = await client.post(
        "/register",
        data={
            "csrf_token": token,
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
            "password_confirm": password,
        },
    )
    assert response.status_code == 303, response.text[:3000]


async def sign_in(
    client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD, next_path: str | None = None
) -> httpx.Response:
    token = await form_token(client, "/login")
    data = {"csrf_token": token, "username": username, "password": password}
    if next_path is not None:
        data["next"] = next_path
    response = await client.post("/login", data=data)
    assert response.status_code == 303, response.text[:3000]
    return response


async def account_token(client: httpx.AsyncClient) -> str:
    """The CSRF token of the signed-in account page's forms."""
    return await form_token(client, "/account")


def new_client(app: object, base_url: str = "http://authgate.test") -> httpx.AsyncClient:
    """A second browser: its own cookie jar."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40001))  # type: ignore[arg-type]
    return httpx.AsyncClient(
        transport=transport, base_url=base_url, headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
    )
