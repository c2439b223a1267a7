"""The HTTP contract of /auth/*, in process through the ASGI adapter, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import pytest

from authgate.app import App
from authgate.http.handlers import system
from helpers import PASSWORD, bearer, login, register


async def test_ping(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping")
    assert response.status_code == 200
    assert response.json() == {"message": "pong"}
    assert response.headers["x-request-id"]


async def test_readiness_says_unavailable_in_time_when_the_database_hangs(
    client: httpx.AsyncClient, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hung database (tests/reliability/test_fault_postgres.py freezes a real one) is reported by the
    readiness check's own timeout, not after the 10 s command timeout a probe would have given up on."""
    ready = await client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"

    async def hangs() -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(system, "READY_DATABASE_TIMEOUT", 0.2)
    monkeypatch.setattr(app.services.db, "ping", hangs)
    started = time.monotonic()
    ready = await client.get("/health/ready")
    assert time.monotonic() - started < 5
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["database"] == "unavailable: no answer within 0.2 s"
    monkeypatch.undo()
    assert (await client.get("/health/ready")).status_code == 200


async def test_register_returns_the_user_without_secrets(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register", json={"username": "Alice", "email": "Alice@Example.com", "password": PASSWORD}
    )
    assert response.status_code == 201
    user = response.json()
    assert set(user) == {
        "id",
        "username",
        "email",
        "roles",
        "email_verified",
        "disabled",
        "created_at",
        "updated_at",
    }
    assert user["username"] == "Alice"
    assert user["roles"] == ["user"]
    assert len(user["id"]) == 36 and user["id"][14] == "7"  # UUIDv7
    assert PASSWORD not in response.text and "argon2" not in response.text


@pytest.mark.parametrize(
    ("second", "code"),
    [
        ({"username": "alice", "email": "other@example.com"}, "username_taken"),
        ({"username": "ALICE", "email": "other@example.com"}, "username_taken"),
        ({"username": "\uff41lice", "email": "other@example.com"}, "username_taken"),  # fullwidth a, NFKC
        ({"username": "bob", "email": "ALICE@example.com"}, "email_taken"),
    ],
)
async def test_duplicates_conflict(client: httpx.AsyncClient, second: dict[str, str], code: str) -> None:
    await register(client, "alice")
    response = await client.post("/auth/register", json={**second, "password": PASSWORD})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"username": "ab", "email": "a@example.com", "password": PASSWORD}, {"username"}),
        ({"username": "has space", "email": "a@example.com", "password": PASSWORD}, {"username"}),
        ({"username": "x" * 33, "email": "a@example.com", "password": PASSWORD}, {"username"}),
        ({"username": "alice", "email": "not-an-email", "password": PASSWORD}, {"email"}),
        ({"username": "alice", "email": "a@example.com", "password": "short"}, {"password"}),
        ({"username": "alice", "email": "a@example.com", "password": "password123"}, {"password"}),
        ({"username": "alice", "email": "a@example.com", "password": "alice"}, {"password"}),
        ({"username": "a b", "email": "nope", "password": "1"}, {"username", "email", "password"}),
        ({"username": "alice", "email": "a@example.com"}, {"password"}),
        ({"username": 5, "email": "a@example.com", "password": PASSWORD}, {"username"}),
        ({"username": "alice", "email": "a@example.com", "password": "x" * 1025}, {"password"}),
    ],
)
async def test_register_validation(client: httpx.AsyncClient, body: dict[str, object], fields: set[str]) -> None:
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["status"] == 422
    assert {e["field"] for e in problem["errors"]} == fields
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_long_unicode_password_is_accepted_and_not_truncated(client: httpx.AsyncClient) -> None:
    password = "pässwörd-" + "ü" * 1000
    await register(client, "carol", password=password)
    await login(client, "carol", password)
    response = await client.post("/auth/login", json={"username": "carol", "password": password[:-1]})
    assert response.status_code == 401


async def test_login_with_username_or_email(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    for name in ("alice", "ALICE", "alice@example.com", "Alice@EXAMPLE.com"):
        tokens = await login(client, name)
        assert tokens["token_type"] == "Bearer"
        assert tokens["expires_in"] == 900
        assert len(tokens["refresh_token"]) >= 43


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    wrong = await client.post("/auth/login", json={"username": "alice", "password": "wrong-password"})
    unknown = await client.post("/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert wrong.status_code == unknown.status_code == 401
    a, b = wrong.json(), unknown.json()
    a.pop("request_id"), b.pop("request_id")
    assert a == b
    assert a["code"] == "invalid_credentials"


async def test_access_token_claims_and_standard_verification(client: httpx.AsyncClient) -> None:
    user = await register(client, "alice")
    tokens = await login(client, "alice")
    jwks = (await client.get("/.well-known/jwks.json")).json()
    config = (await client.get("/.well-known/openid-configuration")).json()
    assert config["jwks_uri"].endswith("/.well-known/jwks.json")
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and "d" not in key
    claims = jwt.decode(
        tokens["access_token"],
        jwt.PyJWK(key).key,
        algorithms=["EdDSA"],
        audience="authgate",
        issuer=config["issuer"],
    )
    assert claims["sub"] == user["id"]
    assert claims["roles"] == ["user"]
    assert claims["exp"] - claims["iat"] == 900
    assert {"nbf", "jti", "sid"} <= set(claims)


async def test_me(client: httpx.AsyncClient) -> None:
    user = await register(client, "alice")
    tokens = await login(client, "alice")
    response = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.json()["id"] == user["id"]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Basic abc", "Bearer not.a.token", "Bearer a.b", "Bearer " + "x" * 9000],
)
async def test_me_rejects_missing_or_malformed_tokens(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await client.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


async def test_refresh_rotates_and_detects_reuse(client: httpx.AsyncClient, app: App) -> None:
    await register(client, "alice")
    first = await login(client, "alice")
    second = (await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert second["refresh_token"] != first["refresh_token"]
    # Within the grace window the predecessor gets the same successor (two tabs refreshing at once).
    again = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 200
    assert again.json()["refresh_token"] == second["refresh_token"]
    # Once the successor itself was rotated, presenting the old one again is reuse: the family ends.
    third = (await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})).json()
    reused = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_token_reused"
    after = await client.post("/auth/refresh", json={"refresh_token": third["refresh_token"]})
    assert after.status_code == 401
    me = await client.get("/auth/me", headers=bearer(third["access_token"]))
    assert me.status_code == 401


async def test_reuse_after_grace_window_ends_the_family(database_url: str) -> None:
    from authgate.app import create_app
    from helpers import make_settings

    application = create_app(make_settings(database_url, refresh_grace_seconds=0))
    await application.startup()
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            await register(c, "alice")
            first = await login(c, "alice")
            second = (await c.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
            await asyncio.sleep(0.01)
            reused = await c.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
            assert reused.json()["code"] == "refresh_token_reused"
            dead = await c.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
            assert dead.status_code == 401
    finally:
        await application.shutdown()


@pytest.mark.parametrize("token", ["", "x", "nope" * 40, "\u00e9t\u00e9"])
async def test_refresh_rejects_unknown_tokens(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": token})
    assert response.status_code in (401, 422)
    assert response.headers["content-type"] == "application/problem+json"


async def test_logout_ends_the_session_at_once(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    tokens = await login(client, "alice")
    other = await login(client, "alice")
    for token in (tokens, other):  # checked once, so that (on PostgreSQL) the worker's session cache holds them
        assert (await client.get("/auth/me", headers=bearer(token["access_token"]))).status_code == 200
    assert (await client.post("/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 204
    assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    # Other sessions of the same user are untouched.
    assert (await client.get("/auth/me", headers=bearer(other["access_token"]))).status_code == 200


async def test_registration_can_be_closed(database_url: str) -> None:
    from authgate.app import create_app
    from helpers import make_settings

    application = create_app(make_settings(database_url, registration_open=False))
    await application.startup()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as c:
            response = await c.post(
                "/auth/register", json={"username": "alice", "email": "a@example.com", "password": PASSWORD}
            )
            assert response.status_code == 403
            assert response.json()["code"] == "registration_closed"
    finally:
        await application.shutdown()


async def test_parallel_registrations_of_one_name_give_one_201(client: httpx.AsyncClient) -> None:
    async def attempt(i: int) -> int:
        response = await client.post(
            "/auth/register", json={"username": "race", "email": f"race{i}@example.com", "password": PASSWORD}
        )
        return response.status_code

    statuses = await asyncio.gather(*(attempt(i) for i in range(20)))
    assert sorted(statuses) == [201] + [409] * 19


async def test_introspection(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    tokens = await login(client, "alice")
    form = {"token": tokens["access_token"]}
    active = (await client.post("/auth/introspect", data=form)).json()
    assert active["active"] is True and active["username"] == "alice" and active["token_type"] == "access_token"
    assert (await client.post("/auth/introspect", data={"token": "garbage"})).json() == {"active": False}
    assert (await client.post("/auth/introspect", data={"token": ""})).json() == {"active": False}
    await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert (await client.post("/auth/introspect", data=form)).json() == {"active": False}
    wrong_type = await client.post("/auth/introspect", json=form)
    assert wrong_type.status_code == 415


async def test_every_change_to_a_session_or_its_user_is_seen_by_the_next_request(
    client: httpx.AsyncClient, app: App
) -> None:
    """On PostgreSQL the session check is answered from the worker's cache; this worker's own changes empty it
    as they commit (tests/contract/test_change_feed.py has the other workers' and an operator's)."""
    feed = app.services.change_feed
    if feed is not None:
        assert await feed.wait_live(10)
    ready = (await client.get("/health/ready")).json()["checks"]["session_cache"]
    assert ready == ("ok" if app.settings.database_url.startswith("postgresql") else "off")
    await register(client, "alice")
    first, second, third = [await login(client, "alice") for _ in range(3)]

    async def me(tokens: dict[str, str]) -> int:
        return (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code

    assert [await me(t) for t in (first, second, third)] == [200, 200, 200]
    ended = await client.post("/auth/logout-all", headers=bearer(first["access_token"]), json={"keep_current": True})
    assert ended.json() == {"ended": 2}
    assert [await me(t) for t in (first, second, third)] == [200, 401, 401]
    changed = await client.post(
        "/auth/password",
        headers=bearer(first["access_token"]),
        json={"current_password": PASSWORD, "new_password": "an-entirely-new-passphrase"},
    )
    assert changed.status_code == 204
    profile = (await client.get("/auth/me", headers=bearer(first["access_token"]))).json()
    assert profile["username"] == "alice"  # the same session goes on, with the account as it is now
