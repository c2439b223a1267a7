"""Helpers for the HTTP tests."""

from __future__ import annotations

from typing import Any

import httpx

PASSWORD = "Tr0ub4dor&3-horse"


async def register(
    client: httpx.AsyncClient, username: str = "alice", email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post(
        "/auth/register",
        json={"username": username, "email": email or f"{username}@example.com", "password": password},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
