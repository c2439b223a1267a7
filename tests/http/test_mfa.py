"""Two-step login over the API, in process through the ASGI adapter, on SQLite and PostgreSQL: setting up an
authenticator, the login's second step, replays, recovery codes, the back-off, turning it off, an admin's reset."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

from abuse_helpers import make_admin
from authgate.app import App
from authgate.domain.audit import AuditQuery
from helpers import PASSWORD, assert_problem, bearer, login, make_settings, register
from mfa_helpers import code, enable, mfa_token, second_step

pytestmark = pytest.mark.usefixtures("app")


async def test_setting_up_and_logging_in_with_an_authenticator(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    status = await client.get("/auth/mfa", headers=bearer(access))
    assert status.json() == {"enabled": False, "pending": False, "recovery_codes_left": 0}

    wrong = await client.post("/auth/mfa/totp", json={"password": "not-the-password"}, headers=bearer(access))
    assert assert_problem(wrong, 422, "validation_failed")["errors"][0]["field"] == "password"
    enrolled = await client.post("/auth/mfa/totp", json={"password": PASSWORD}, headers=bearer(access))
    assert enrolled.status_code == 201
    secret, uri = enrolled.json()["secret"], enrolled.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/authgate:alice?") and f"secret={secret}" in uri and "issuer=authgate" in uri
    assert (await client.get("/auth/mfa", headers=bearer(access))).json()["pending"] is True
    assert (await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})).status_code == 200

    bad = await client.post("/auth/mfa/totp/confirm", json={"code": "000000"}, headers=bearer(access))
    if code(secret) != "000000":
        assert assert_problem(bad, 422, "validation_failed")["errors"][0]["field"] == "code"
    confirmed = await client.post("/auth/mfa/totp/confirm", json={"code": code(secret)}, headers=bearer(access))
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    status = await client.get("/auth/mfa", headers=bearer(access))
    assert status.json() == {"enabled": True, "pending": False, "recovery_codes_left": 10}
    again = await client.post("/auth/mfa/totp", json={"password": PASSWORD}, headers=bearer(access))
    assert_problem(again, 409, "mfa_already_enabled")

    token = await mfa_token(client)
    assert_problem(await second_step(client, token, "12345"), 401, "invalid_mfa_code")
    done = await second_step(client, token, code(secret, 1))
    assert done.status_code == 200, done.text
    pair = done.json()
    me = await client.get("/auth/me", headers=bearer(pair["access_token"]))
    assert me.json()["username"] == "alice"
    refreshed = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200


async def test_a_code_works_once(client: httpx.AsyncClient) -> None:
    await register(client)
    secret, _ = await enable(client, (await login(client))["access_token"])
    used = code(secret, 1)
    assert (await second_step(client, await mfa_token(client), used)).status_code == 200
    # The same code again, from another login, and a code of an earlier step: both refused.
    assert_problem(await second_step(client, await mfa_token(client), used), 401, "invalid_mfa_code")
    assert_problem(await second_step(client, await mfa_token(client), code(secret)), 401, "invalid_mfa_code")


async def test_recovery_codes_work_once_each(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    _, codes = await enable(client, access)
    typed = " " + codes[0].upper().replace("-", " - ") + " "  # case, spaces and the dash do not matter
    assert (await second_step(client, await mfa_token(client), typed)).status_code == 200
    assert_problem(await second_step(client, await mfa_token(client), codes[0]), 401, "invalid_mfa_code")
    assert (await client.get("/auth/mfa", headers=bearer(access))).json()["recovery_codes_left"] == 9
    assert (await second_step(client, await mfa_token(client), codes[1])).status_code == 200


async def test_new_recovery_codes_replace_the_old_ones(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    secret, old = await enable(client, access)
    body = {"password": PASSWORD, "code": code(secret, 1)}
    renewed = await client.post("/auth/mfa/recovery-codes", json=body, headers=bearer(access))
    assert renewed.status_code == 200, renewed.text
    new = renewed.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert_problem(await second_step(client, await mfa_token(client), old[0]), 401, "invalid_mfa_code")
    assert (await second_step(client, await mfa_token(client), new[0])).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "not base64 at all!",
        base64.urlsafe_b64encode(b"0" * 40).decode(),
        "\u00e9" * 10,
        "A" * 256,
    ],
)
async def test_a_bad_mfa_token_is_refused(client: httpx.AsyncClient, token: str) -> None:
    response = await second_step(client, token, "123456")
    if token == "":
        assert_problem(response, 422, "validation_failed")
    else:
        assert_problem(response, 401, "invalid_mfa_token")


async def test_a_token_for_one_user_is_not_a_token_for_another(client: httpx.AsyncClient, app: App) -> None:
    """The token is signed: changing the user id in it breaks the signature; an expired one is refused."""
    await register(client)
    await register(client, "bob")
    secret, _ = await enable(client, (await login(client))["access_token"])
    token = await mfa_token(client)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    bob = (await login(client, "bob"))["access_token"]
    bob_id = (await client.get("/auth/me", headers=bearer(bob))).json()["id"]
    alice_id = raw.split(b".")[0].decode()
    forged = base64.urlsafe_b64encode(raw.replace(alice_id.encode(), bob_id.encode())).decode().rstrip("=")
    assert_problem(await second_step(client, forged, code(secret, 1)), 401, "invalid_mfa_token")

    challenges = app.services.mfa.challenges
    ttl, challenges.ttl = challenges.ttl, -1
    try:
        async with app.services.db.reader() as r:
            alice = await r.users.get(alice_id)
        assert alice is not None
        expired = challenges.issue(alice)
    finally:
        challenges.ttl = ttl
    assert_problem(await second_step(client, expired, code(secret, 1)), 401, "invalid_mfa_token")


async def test_a_password_changed_between_the_steps_voids_the_second_step(client: httpx.AsyncClient) -> None:
    """Whoever had the old password and started a login cannot finish it with a code once the password changed
    (or was reset): the mfa_token carries a stamp of the password hash it followed."""
    await register(client)
    access = (await login(client))["access_token"]
    secret, _ = await enable(client, access)
    token = await mfa_token(client)
    changed = {"current_password": PASSWORD, "new_password": "another good passphrase"}
    assert (await client.post("/auth/password", json=changed, headers=bearer(access))).status_code == 204
    assert_problem(await second_step(client, token, code(secret, 1)), 401, "invalid_mfa_token")
    fresh = await mfa_token(client, password="another good passphrase")
    assert (await second_step(client, fresh, code(secret, 1))).status_code == 200


async def test_a_user_disabled_between_the_steps_cannot_finish(client: httpx.AsyncClient, app: App) -> None:
    await register(client)
    secret, _ = await enable(client, (await login(client))["access_token"])
    token = await mfa_token(client)
    async with app.services.db.transaction() as tx:
        user = await tx.users.get_by_login("alice")
        assert user is not None
        user.disabled = True
        await tx.users.update(user)
    assert_problem(await second_step(client, token, code(secret, 1)), 401, "invalid_mfa_token")


async def test_turning_it_off_needs_the_password_and_a_code(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    secret, codes = await enable(client, access)
    wrong_password = {"password": "not-the-password", "code": code(secret, 1)}
    response = await client.post("/auth/mfa/disable", json=wrong_password, headers=bearer(access))
    assert assert_problem(response, 422, "validation_failed")["errors"][0]["field"] == "password"
    wrong_code = {"password": PASSWORD, "code": "abcde-fghjk"}
    response = await client.post("/auth/mfa/disable", json=wrong_code, headers=bearer(access))
    assert assert_problem(response, 422, "validation_failed")["errors"][0]["field"] == "code"
    response = await client.post(
        "/auth/mfa/disable", json={"password": PASSWORD, "code": codes[3]}, headers=bearer(access)
    )
    assert response.status_code == 204
    assert (await client.get("/auth/mfa", headers=bearer(access))).json()["enabled"] is False
    assert "access_token" in await login(client)
    response = await client.post(
        "/auth/mfa/disable", json={"password": PASSWORD, "code": codes[4]}, headers=bearer(access)
    )
    assert_problem(response, 409, "mfa_not_enabled")


async def test_confirming_without_setting_up_is_a_conflict(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    response = await client.post("/auth/mfa/totp/confirm", json={"code": "123456"}, headers=bearer(access))
    assert_problem(response, 409, "mfa_not_enabled")


async def test_the_endpoints_need_a_token(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/auth/mfa"),
        ("POST", "/auth/mfa/totp"),
        ("POST", "/auth/mfa/totp/confirm"),
        ("POST", "/auth/mfa/disable"),
        ("POST", "/auth/mfa/recovery-codes"),
    ]:
        assert_problem(await client.request(method, path, json={}), 401, "missing_token")


async def test_an_admin_can_reset_it(client: httpx.AsyncClient, app: App) -> None:
    admin_headers = await make_admin(app)
    await register(client)
    alice = await login(client)
    await enable(client, alice["access_token"])
    me = (await client.get("/auth/me", headers=bearer(alice["access_token"]))).json()

    assert_problem(
        await client.delete(f"/users/{me['id']}/mfa", headers=bearer(alice["access_token"])), 403, "forbidden"
    )
    assert_problem(await client.delete("/users/not-an-id/mfa", headers=admin_headers), 404, "user_not_found")
    assert (await client.delete(f"/users/{me['id']}/mfa", headers=admin_headers)).status_code == 204
    assert "access_token" in await login(client)
    assert_problem(await client.delete(f"/users/{me['id']}/mfa", headers=admin_headers), 409, "mfa_not_enabled")
    events = (await client.get("/audit", params={"user_id": me["id"]}, headers=admin_headers)).json()
    names = [e["event"] for e in events["items"]]
    assert names.count("mfa_disabled") == 1 and "mfa_enabled" in names
    admin_id = (await client.get("/auth/me", headers=admin_headers)).json()["id"]
    assert next(e for e in events["items"] if e["event"] == "mfa_disabled")["actor_id"] == admin_id


async def test_wrong_codes_back_off(database_url: str) -> None:
    from authgate.app import create_app

    app = create_app(make_settings(database_url, login_backoff_after=3))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
            await register(client)
            secret, _ = await enable(client, (await login(client))["access_token"])
            token = await mfa_token(client)
            for _ in range(3):
                assert_problem(await second_step(client, token, "abcde-abcde"), 401, "invalid_mfa_code")
            limited = await second_step(client, token, code(secret, 1))
            assert_problem(limited, 429, "rate_limited")
            assert int(limited.headers["retry-after"]) >= 1
            async with app.services.db.reader() as r:
                page = await r.audit.page(AuditQuery(event="lockout"))
            assert [(e.detail, e.ip) for e in page.events] == [('{"attempts":3,"for":"second_factor"}', "203.0.113.7")]
    finally:
        await app.shutdown()


async def test_the_secret_is_sealed_with_the_key_encryption_key(database_url: str) -> None:
    from authgate.app import create_app

    kek = base64.urlsafe_b64encode(b"k" * 32).decode()
    app = create_app(make_settings(database_url, key_encryption_key=kek))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
            user = await register(client)
            secret, _ = await enable(client, (await login(client))["access_token"])
            async with app.services.db.reader() as r:
                factor = await r.mfa.get(user["id"])
            assert factor is not None and factor.secret.startswith(b"aesgcm1:")
            assert secret.encode() not in factor.secret
            assert (await second_step(client, await mfa_token(client), code(secret, 1))).status_code == 200
    finally:
        await app.shutdown()


async def test_the_same_code_twice_at_once_opens_one_session(client: httpx.AsyncClient) -> None:
    """Both requests read the factor before either writes: the store's conditional update decides."""
    await register(client)
    secret, _ = await enable(client, (await login(client))["access_token"])
    tokens = [await mfa_token(client) for _ in range(4)]
    typed = code(secret, 1)
    responses = await asyncio.gather(*(second_step(client, token, typed) for token in tokens))
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401]


async def test_the_tokens_say_how_the_session_was_started(client: httpx.AsyncClient) -> None:
    """`amr` (RFC 8176) in every access token of the session, refreshes included, and in introspection; the
    sessions list names the second factor."""
    import jwt

    await register(client)
    plain = await login(client)
    assert jwt.decode(plain["access_token"], options={"verify_signature": False})["amr"] == ["pwd"]
    secret, codes = await enable(client, plain["access_token"])
    for typed in (code(secret, 1), codes[0]):
        pair = (await second_step(client, await mfa_token(client), typed)).json()
        assert jwt.decode(pair["access_token"], options={"verify_signature": False})["amr"] == ["pwd", "otp", "mfa"]
        refreshed = (await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})).json()
        claims = jwt.decode(refreshed["access_token"], options={"verify_signature": False})
        assert claims["amr"] == ["pwd", "otp", "mfa"]
        introspected = await client.post("/auth/introspect", data={"token": refreshed["access_token"]})
        assert introspected.json()["amr"] == ["pwd", "otp", "mfa"]
    sessions = (await client.get("/auth/sessions", headers=bearer(plain["access_token"]))).json()["items"]
    assert sorted(str(s["second_factor"]) for s in sessions) == ["None", "recovery_code", "totp"]


async def test_a_second_step_after_two_step_login_was_turned_off_starts_again(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    secret, codes = await enable(client, access)
    token = await mfa_token(client)
    body = {"password": PASSWORD, "code": codes[0]}
    assert (await client.post("/auth/mfa/disable", json=body, headers=bearer(access))).status_code == 204
    assert_problem(await second_step(client, token, code(secret, 1)), 401, "invalid_mfa_token")
