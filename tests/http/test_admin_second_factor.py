"""AUTHGATE_ADMIN_REQUIRES_SECOND_FACTOR: the admin API only for an admin whose session started with two-step login
or a passkey, in process on SQLite and PostgreSQL; everything else an admin does is unchanged."""

from __future__ import annotations

import httpx
import pytest

from authgate.app import App
from authgate.config import Settings
from helpers import PASSWORD, assert_problem, bearer, login, make_settings, register
from mfa_helpers import code, enable, mfa_token, second_step
from passkey_helpers import SoftAuthenticator

ORIGIN = "https://authgate.test"

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, issuer=ORIGIN, admin_requires_second_factor=True)


async def test_the_admin_api_needs_a_session_with_a_second_factor(client: httpx.AsyncClient, app: App) -> None:
    await app.services.auth.register("root", "root@example.com", PASSWORD, roles=("admin", "user"), by_admin=True)
    signed = await client.post("/auth/login", json={"username": "root", "password": PASSWORD})
    password_only = bearer(signed.json()["access_token"])
    for method, path in (("GET", "/users"), ("GET", "/audit"), ("POST", "/users/import")):
        refused = await client.request(method, path, headers=password_only, json={"users": []})
        problem = assert_problem(refused, 403, "second_factor_required")
        assert "two-step login or a passkey" in problem["detail"]
    # The rest of the account still works with that session: enough to turn two-step login on.
    assert (await client.get("/auth/me", headers=password_only)).status_code == 200
    secret, _ = await enable(client, signed.json()["access_token"])
    assert_problem(await client.get("/users", headers=password_only), 403, "second_factor_required")

    stepped = await second_step(client, await mfa_token(client, "root"), code(secret, 1))
    assert (await client.get("/users", headers=bearer(stepped.json()["access_token"]))).status_code == 200
    refreshed = await client.post("/auth/refresh", json={"refresh_token": stepped.json()["refresh_token"]})
    assert (await client.get("/users", headers=bearer(refreshed.json()["access_token"]))).status_code == 200

    options = await client.post(
        "/auth/passkeys/registration-options", json={"password": PASSWORD}, headers=password_only
    )
    authenticator = SoftAuthenticator()
    credential = authenticator.create(options.json()["public_key"], ORIGIN)
    assert (
        await client.post("/auth/passkeys", json={"credential": credential}, headers=password_only)
    ).status_code == 201
    request = (await client.post("/auth/login/passkey/options")).json()["public_key"]
    passkey = await client.post("/auth/login/passkey", json={"credential": authenticator.get(request, ORIGIN)})
    assert (await client.get("/users", headers=bearer(passkey.json()["access_token"]))).status_code == 200


async def test_users_without_the_admin_role_get_the_usual_answer(client: httpx.AsyncClient) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    assert_problem(await client.get("/users", headers=bearer(token)), 403, "forbidden")
