"""POST /users/import, in process, on SQLite and PostgreSQL: admins only, 1 to 1000 users, its own body limit,
per-record reasons, nothing overwritten, no hash ever echoed."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from authgate.app import App
from helpers import PASSWORD, bearer, login, register
from legacy_samples import MAKERS

BCRYPT = MAKERS["bcrypt-2b"]("their old password")
SCRYPT = MAKERS["werkzeug-scrypt"]("another old password")


def user(name: str, password_hash: str = BCRYPT, **extra: Any) -> dict[str, Any]:
    return {"username": name, "email": f"{name}@example.com", "password_hash": password_hash, **extra}


@pytest.fixture
async def admin(app: App, client: httpx.AsyncClient) -> dict[str, str]:
    await app.services.admin.create("root", "root@example.com", PASSWORD, roles=("admin", "user"))
    return bearer((await login(client, "root"))["access_token"])


async def test_only_admins_import(client: httpx.AsyncClient) -> None:
    body = {"users": [user("alice")]}
    assert (await client.post("/users/import", json=body)).status_code == 401
    await register(client, "mallory")
    token = (await login(client, "mallory"))["access_token"]
    response = await client.post("/users/import", json=body, headers=bearer(token))
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert (
        await client.post("/auth/login", json={"username": "alice", "password": "their old password"})
    ).status_code == 401


async def test_a_batch_imports_and_reports_each_record(
    app: App, client: httpx.AsyncClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "pbkdf2:sha256:99999999$s3cr3tsalt$" + "ab" * 32
    batch = [
        user("alice"),
        user("bob", SCRYPT, roles=["admin", "user"], created_at="2019-05-06T07:08:09Z"),
        user("李雷"),
        user("carol", "5f4dcc3b5aa765d61d8327deb882cf99"),
        user("dave", secret),
        user("erin", roles=["wizard"]),
        user("frank", created_at="2999-01-01T00:00:00+00:00"),
        {**user("ALICE"), "email": "alice2@example.com"},
        user("root"),  # the admin: skipped, never given this password
    ]
    with caplog.at_level(logging.INFO, logger="authgate.security"):
        response = await client.post("/users/import", json={"users": batch}, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["imported"] == 2 and body["skipped"] == 2
    assert [(r["index"], r["username"], r["reason"]) for r in body["rejected"]] == [
        (2, "李雷", "invalid_username"),
        (3, "carol", "unknown_scheme"),
        (4, "dave", "hash_out_of_bounds"),
        (5, "erin", "invalid_roles"),
        (6, "frank", "invalid_created_at"),
    ]
    assert "iterations must be between" in body["rejected"][2]["detail"]
    assert "s3cr3tsalt" not in response.text and "$2b$" not in response.text and "scrypt:" not in response.text

    events = [r for r in caplog.records if getattr(r, "event", None) == "users_import"]
    assert len(events) == 1
    assert (events[0].imported, events[0].skipped, events[0].rejected) == (2, 2, 5)  # type: ignore[attr-defined]
    assert all("s3cr3tsalt" not in r.getMessage() and "$2b$" not in str(r.__dict__) for r in caplog.records)

    assert (
        await client.post("/auth/login", json={"username": "root", "password": "their old password"})
    ).status_code == 401
    tokens = await login(client, "bob", "another old password")
    me = (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert me["roles"] == ["admin", "user"] and me["created_at"].startswith("2019-05-06T07:08:09")
    await login(client, "alice@example.com", "their old password")

    again = await client.post("/users/import", json={"users": batch}, headers=admin)
    assert again.status_code == 200
    assert again.json()["imported"] == 0 and again.json()["skipped"] == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"users": []}, "users"),
        ({"users": [user(f"user{i}") for i in range(1001)]}, "users"),
        ({"users": [{**user("alice"), "password": "chosen by the admin"}]}, "users[0]"),
        ({"users": [{"username": "alice", "email": "alice@example.com"}]}, "users[0].password_hash"),
        ({"users": [user("alice", "x" * 1025)]}, "users[0].password_hash"),
        ({"users": [user("alice", created_at="2020-01-01T00:00:00")]}, "users[0].created_at"),
        ({"users": [user("alice")], "more": 1}, "body"),
    ],
)
async def test_a_request_of_the_wrong_shape_is_refused_whole(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post("/users/import", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"].startswith(field)
    assert (
        await client.post("/auth/login", json={"username": "alice", "password": "their old password"})
    ).status_code == 401


async def test_a_full_batch_fits_the_routes_own_body_limit_and_others_keep_theirs(
    app: App, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    long_hash = MAKERS["passlib-pbkdf2-sha512"]("pw")
    batch = [user(f"user{i:04}", long_hash, roles=["user"]) for i in range(1000)]
    content = json.dumps({"users": batch}).encode()
    assert len(content) > 3 * app.settings.max_body_bytes
    response = await client.post(
        "/users/import", content=content, headers={**admin, "content-type": "application/json"}
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json() == {"imported": 1000, "skipped": 0, "rejected": []}

    padded = content[:-1] + b"," + b" " * (2 * 1024 * 1024) + b"}"
    too_big = await client.post("/users/import", content=padded, headers={**admin, "content-type": "application/json"})
    assert too_big.status_code == 413
    big_elsewhere = b'{"username": "x", "email": "x@example.com", "password": "' + b"p" * 70_000 + b'"}'
    other = await client.post("/users", content=big_elsewhere, headers={**admin, "content-type": "application/json"})
    assert other.status_code == 413


def test_the_documented_reasons_are_the_domains() -> None:
    from typing import get_args

    from authgate.domain.importer import REJECT_REASONS
    from authgate.http.schemas_imports import ImportRejectReason

    assert set(get_args(ImportRejectReason)) == set(REJECT_REASONS) - {"malformed_record"}
