"""DELETE /auth/me: a user deletes their own account, with the password (and a code when two-step login is on);
the address is told over a real SMTP server, the audit log keeps whom it was, the username and email are free."""

from __future__ import annotations

import httpx
import pytest

from abuse_helpers import ADMIN_PASSWORD, make_admin
from authgate.app import App
from helpers import PASSWORD, assert_problem, bearer, login, register
from mailserver import MailServer, settings_fixture, smtp_fixture  # noqa: F401 (fixtures)
from mfa_helpers import code, enable


async def delete_me(client: httpx.AsyncClient, access: str, body: object) -> httpx.Response:
    return await client.request("DELETE", "/auth/me", json=body, headers=bearer(access))


async def test_a_user_deletes_their_account(app: App, client: httpx.AsyncClient, smtp: MailServer) -> None:
    alice_id = (await register(client))["id"]
    pairs = [await login(client), await login(client)]
    access = pairs[0]["access_token"]
    wrong = await delete_me(client, access, {"password": "not the password at all"})
    assert assert_problem(wrong, 422, "validation_failed")["errors"][0]["field"] == "password"
    assert (await client.get("/auth/me", headers=bearer(access))).status_code == 200  # nothing happened
    assert (await delete_me(client, access, {"password": PASSWORD})).status_code == 204
    for pair in pairs:  # every session ended with it
        assert (await client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 401
        refreshed = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 401
    gone = await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert_problem(gone, 401, "invalid_credentials")
    told = await smtp.wait_for_mail(to="alice@example.com", subject="Your account was deleted")
    assert "alice" in told.text and PASSWORD not in told.text
    admin = await make_admin(app)
    events = (await client.get("/audit", params={"user_id": alice_id}, headers=admin)).json()["items"]
    assert events[0]["event"] == "account_delete" and events[0]["detail"] == {"username": "alice"}
    assert (await register(client))["id"] != alice_id  # the username and the address are free again


async def test_with_two_step_login_it_takes_a_code(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    secret, _ = await enable(client, access)
    missing = await delete_me(client, access, {"password": PASSWORD})
    assert assert_problem(missing, 422, "validation_failed")["errors"][0]["field"] == "code"
    wrong = await delete_me(client, access, {"password": PASSWORD, "code": "000000"})
    assert assert_problem(wrong, 422, "validation_failed")["errors"][0]["field"] == "code"
    assert (await client.get("/auth/me", headers=bearer(access))).status_code == 200
    assert (await delete_me(client, access, {"password": PASSWORD, "code": code(secret, 1)})).status_code == 204
    assert (await client.get("/auth/me", headers=bearer(access))).status_code == 401


async def test_the_last_admin_cannot_delete_themselves(app: App, client: httpx.AsyncClient) -> None:
    root = (await make_admin(app))["Authorization"].removeprefix("Bearer ")
    assert_problem(await delete_me(client, root, {"password": ADMIN_PASSWORD}), 409, "last_admin")
    assert (await client.get("/auth/me", headers=bearer(root))).status_code == 200
    await make_admin(app, "second")
    assert (await delete_me(client, root, {"password": ADMIN_PASSWORD})).status_code == 204
    assert (await client.get("/auth/me", headers=bearer(root))).status_code == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (None, 415),
        ({}, 422),
        ({"password": ""}, 422),
        ({"password": PASSWORD, "code": ""}, 422),
        ({"password": PASSWORD, "code": "1" * 65}, 422),
        ({"password": PASSWORD, "extra": True}, 422),
        ([PASSWORD], 422),
    ],
)
async def test_bad_bodies_delete_nothing(client: httpx.AsyncClient, body: object, status: int) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    if body is None:
        response = await client.request("DELETE", "/auth/me", headers=bearer(access))
    else:
        response = await delete_me(client, access, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/auth/me", headers=bearer(access))).status_code == 200
