"""Correctness checks: every endpoint is asked once, and its answer verified, before it is put under load."""

from __future__ import annotations

import base64
import json
from typing import Any

import fixtures
from httpclient import CheckFailed, call, expect

SEED_LOGIN = {"username": "admin", "password": "secure123"}


def _equal(data: Any, wanted: dict[str, Any], what: str) -> None:
    if data != wanted:
        raise CheckFailed(f"{what}: expected {wanted}, got {data!r}")


def ping(port: int) -> None:
    _equal(expect(call(port, "GET", "/ping"), 200, "GET /ping"), {"message": "pong"}, "GET /ping")


def fake_login(port: int) -> None:
    data = expect(call(port, "POST", "/login", SEED_LOGIN), 200, "POST /login (seed)")
    _equal(data, {"token": "fake-jwt-token"}, "POST /login (seed)")
    wrong = call(port, "POST", "/login", {"username": "admin", "password": "wrong"})
    if wrong.status != 401:
        raise CheckFailed(f"POST /login with a wrong password: expected 401, got {wrong.status}")


def io(port: int, path: str) -> None:
    _equal(expect(call(port, "GET", path), 200, f"GET {path}"), {"status": "success"}, f"GET {path}")


def _jwt_header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        raise CheckFailed(f"access token is not a JWT: {token[:60]!r}") from None
    if not isinstance(header, dict):
        raise CheckFailed(f"access token header is not an object: {header!r}")
    return header


def real_login(port: int) -> fixtures.Tokens:
    """A real login: EdDSA access token of type at+jwt, and a wrong password refused."""
    tokens = fixtures.login(port, fixtures.ADMIN)
    header = _jwt_header(tokens.access)
    if header.get("alg") != "EdDSA" or header.get("typ") != "at+jwt":
        raise CheckFailed(f"access token header: expected alg EdDSA, typ at+jwt, got {header}")
    bad = call(port, "POST", "/auth/login", {"username": fixtures.ADMIN, "password": "Wrong-Password-7f3a"})
    if bad.status != 401:
        raise CheckFailed(f"POST /auth/login with a wrong password: expected 401, got {bad.status}")
    return tokens


def me(port: int, access: str, username: str) -> None:
    data = expect(call(port, "GET", "/auth/me", token=access), 200, "GET /auth/me")
    if not isinstance(data, dict) or data.get("username") != username:
        raise CheckFailed(f"GET /auth/me: expected user {username!r}, got {str(data)[:300]}")
    anonymous = call(port, "GET", "/auth/me")
    if anonymous.status != 401:
        raise CheckFailed(f"GET /auth/me without a token: expected 401, got {anonymous.status}")


def users_page(port: int, admin_access: str, path: str, expected_items: int) -> None:
    page = expect(call(port, "GET", path, token=admin_access), 200, f"GET {path}")
    if not isinstance(page, dict) or not isinstance(page.get("items"), list) or "next_cursor" not in page:
        raise CheckFailed(f"GET {path}: expected {{items: [...], next_cursor}}, got {str(page)[:300]}")
    if len(page["items"]) != expected_items:
        raise CheckFailed(f"GET {path}: expected {expected_items} items, got {len(page['items'])}")


def refresh(port: int, tokens: fixtures.Tokens) -> None:
    """Two rotations in a row, each answered with a new refresh token."""
    current = tokens.refresh
    for attempt in (1, 2):
        data = expect(
            call(port, "POST", "/auth/refresh", {"refresh_token": current}), 200, f"POST /auth/refresh #{attempt}"
        )
        successor = data.get("refresh_token") if isinstance(data, dict) else None
        if not isinstance(successor, str) or successor == current or not data.get("access_token"):
            raise CheckFailed(f"POST /auth/refresh: expected a new token pair, got {str(data)[:300]}")
        current = successor
