"""Passkeys over the API, in process through the ASGI adapter, on SQLite and PostgreSQL, with a software
authenticator (`passkey_helpers.py`) whose answers py_webauthn checks as it would a browser's: adding one,
logging in with it, replays, foreign and tampered answers, counters, removal, and where passkeys are off."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from abuse_helpers import make_admin
from authgate.app import App
from authgate.config import Settings
from helpers import PASSWORD, assert_problem, bearer, login, make_settings, register
from mfa_helpers import enable
from passkey_helpers import SoftAuthenticator, b64url, b64url_decode

ORIGIN = "https://authgate.test"

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, issuer=ORIGIN)


async def add_passkey(
    client: httpx.AsyncClient, token: str, authenticator: SoftAuthenticator, name: str = "Phone"
) -> dict[str, Any]:
    options = await registration_options(client, token)
    created = await client.post(
        "/auth/passkeys",
        json={"credential": authenticator.create(options, ORIGIN), "name": name},
        headers=bearer(token),
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def registration_options(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post(
        "/auth/passkeys/registration-options", json={"password": PASSWORD}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()["public_key"]
    return options


async def login_options(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/auth/login/passkey/options")
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()["public_key"]
    return options


async def passkey_login(client: httpx.AsyncClient, credential: dict[str, Any]) -> httpx.Response:
    return await client.post("/auth/login/passkey", json={"credential": credential})


def claims(access_token: str) -> dict[str, Any]:
    payload = access_token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def test_adding_a_passkey_and_logging_in_with_it(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    token = (await login(client))["access_token"]
    assert (await client.get("/auth/passkeys", headers=bearer(token))).json() == {"items": []}

    response = await client.post(
        "/auth/passkeys/registration-options", json={"password": PASSWORD}, headers=bearer(token)
    )
    assert response.status_code == 200 and response.json()["expires_in"] == 300
    options = response.json()["public_key"]
    assert options["rp"] == {"id": "authgate.test", "name": "authgate"}
    assert b64url_decode(options["user"]["id"]).hex() == alice["id"].replace("-", "")
    assert options["user"]["name"] == "alice"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    authenticator = SoftAuthenticator()
    created = await client.post(
        "/auth/passkeys",
        json={"credential": authenticator.create(options, ORIGIN), "name": "  Laptop  "},
        headers=bearer(token),
    )
    assert created.status_code == 201, created.text
    passkey = created.json()
    assert passkey["name"] == "Laptop" and passkey["backed_up"] is True and passkey["transports"] == ["internal"]
    assert passkey["credential_id"] == authenticator.credentials[0].id and passkey["last_used_at"] is None
    assert (await client.get("/auth/passkeys", headers=bearer(token))).json() == {"items": [passkey]}

    # A second options call excludes it: the authenticator refuses to make another for the same account.
    again = await registration_options(client, token)
    assert [c["id"] for c in again["excludeCredentials"]] == [passkey["credential_id"]]
    with pytest.raises(ValueError, match="InvalidStateError"):
        authenticator.create(again, ORIGIN)

    request = await login_options(client)
    assert request["rpId"] == "authgate.test" and request["allowCredentials"] == []
    assert request["userVerification"] == "required"
    done = await passkey_login(client, authenticator.get(request, ORIGIN))
    assert done.status_code == 200, done.text
    pair = done.json()
    assert claims(pair["access_token"])["amr"] == ["swk", "user", "mfa"]
    me = await client.get("/auth/me", headers=bearer(pair["access_token"]))
    assert me.json()["username"] == "alice"
    sessions = (await client.get("/auth/sessions", headers=bearer(pair["access_token"]))).json()["items"]
    assert sorted(s["method"] for s in sessions) == ["passkey", "password"]
    refreshed = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    assert claims(refreshed.json()["access_token"])["amr"] == ["swk", "user", "mfa"]
    listed = (await client.get("/auth/passkeys", headers=bearer(token))).json()["items"]
    assert listed[0]["last_used_at"] is not None


async def test_an_answer_is_accepted_once(client: httpx.AsyncClient) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    authenticator = SoftAuthenticator()
    options = await registration_options(client, token)
    answer = authenticator.create(options, ORIGIN)
    assert (await client.post("/auth/passkeys", json={"credential": answer}, headers=bearer(token))).status_code == 201
    replayed = await client.post("/auth/passkeys", json={"credential": answer}, headers=bearer(token))
    problem = assert_problem(replayed, 422, "validation_failed")
    assert problem["errors"] == [
        {"field": "credential", "message": "answers a challenge already used: ask for new options"}
    ]

    signed = authenticator.get(await login_options(client), ORIGIN)
    assert (await passkey_login(client, signed)).status_code == 200
    assert_problem(await passkey_login(client, signed), 401, "invalid_passkey")


async def test_answers_for_another_purpose_user_or_site_are_refused(client: httpx.AsyncClient) -> None:
    await register(client)
    await register(client, "bob")
    alice, bob = (await login(client))["access_token"], (await login(client, "bob"))["access_token"]
    authenticator = SoftAuthenticator()

    # Bob's challenge answered and sent by Alice; a login challenge used to register.
    foreign = authenticator.create(await registration_options(client, bob), ORIGIN)
    refused = await client.post("/auth/passkeys", json={"credential": foreign}, headers=bearer(alice))
    assert assert_problem(refused, 422, "validation_failed")["errors"][0]["field"] == "credential"
    login_challenge = await login_options(client)
    login_challenge |= {"rp": {"id": "authgate.test", "name": "x"}, "user": {"id": b64url(b"x"), "name": "x"}}
    login_challenge |= {"pubKeyCredParams": [{"type": "public-key", "alg": -7}], "excludeCredentials": []}
    wrong_purpose = authenticator.create(login_challenge, ORIGIN)
    refused = await client.post("/auth/passkeys", json={"credential": wrong_purpose}, headers=bearer(alice))
    assert_problem(refused, 422, "validation_failed")

    # A phishing site's origin, and an authenticator that did not verify its user.
    phished = authenticator.create(await registration_options(client, alice), "https://authgate.test.evil.example")
    assert_problem(
        await client.post("/auth/passkeys", json={"credential": phished}, headers=bearer(alice)),
        422,
        "validation_failed",
    )
    unverified = SoftAuthenticator(user_verified=False)
    answer = unverified.create(await registration_options(client, alice), ORIGIN)
    assert_problem(
        await client.post("/auth/passkeys", json={"credential": answer}, headers=bearer(alice)),
        422,
        "validation_failed",
    )
    assert (await client.get("/auth/passkeys", headers=bearer(alice))).json() == {"items": []}

    await add_passkey(client, alice, authenticator)
    assert_problem(
        await passkey_login(client, authenticator.get(await login_options(client), "https://evil.example")),
        401,
        "invalid_passkey",
    )
    authenticator.user_verified = False
    assert_problem(
        await passkey_login(client, authenticator.get(await login_options(client), ORIGIN)), 401, "invalid_passkey"
    )


async def test_tampered_unknown_and_removed_passkeys_do_not_log_in(client: httpx.AsyncClient, app: App) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    authenticator = SoftAuthenticator()
    passkey = await add_passkey(client, token, authenticator)

    signed = authenticator.get(await login_options(client), ORIGIN)
    signature = bytearray(b64url_decode(signed["response"]["signature"]))
    signature[-1] ^= 1
    signed["response"]["signature"] = b64url(bytes(signature))
    assert_problem(await passkey_login(client, signed), 401, "invalid_passkey")
    stranger = SoftAuthenticator()  # a passkey for this site that was never added to any account
    stranger.create(
        {
            "challenge": b64url(b"c" * 32),
            "rp": {"id": "authgate.test", "name": "authgate"},
            "user": {"id": b64url(b"u" * 16), "name": "mallory"},
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        },
        ORIGIN,
    )
    assert_problem(
        await passkey_login(client, stranger.get(await login_options(client), ORIGIN)), 401, "invalid_passkey"
    )
    # The user handle must be the passkey's user.
    signed = authenticator.get(await login_options(client), ORIGIN)
    signed["response"]["userHandle"] = b64url(b"\x00" * 16)
    assert_problem(await passkey_login(client, signed), 401, "invalid_passkey")

    removed = await client.delete(f"/auth/passkeys/{passkey['id']}", headers=bearer(token))
    assert removed.status_code == 204
    assert_problem(
        await client.delete(f"/auth/passkeys/{passkey['id']}", headers=bearer(token)), 404, "passkey_not_found"
    )
    assert_problem(await client.delete("/auth/passkeys/not-an-id", headers=bearer(token)), 404, "passkey_not_found")
    assert_problem(
        await passkey_login(client, authenticator.get(await login_options(client), ORIGIN)), 401, "invalid_passkey"
    )

    admin = await make_admin(app)
    events = (await client.get("/audit", params={"event": "login_failure"}, headers=admin)).json()["items"]
    reasons = sorted(e["detail"]["reason"] for e in events if e["detail"].get("method") == "passkey")
    assert reasons == ["passkey_rejected", "passkey_rejected", "unknown_passkey", "unknown_passkey"]
    added = (await client.get("/audit", params={"event": "passkey_added"}, headers=admin)).json()["items"]
    gone = (await client.get("/audit", params={"event": "passkey_removed"}, headers=admin)).json()["items"]
    assert [e["detail"]["name"] for e in added + gone] == ["Phone", "Phone"]


async def test_a_counter_that_goes_back_means_a_clone(client: httpx.AsyncClient) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    authenticator = SoftAuthenticator(sign_count_step=1)
    await add_passkey(client, token, authenticator)
    for _ in range(2):
        assert (await passkey_login(client, authenticator.get(await login_options(client), ORIGIN))).status_code == 200
    authenticator.credentials[0].sign_count = 0  # the copy made before those two logins
    assert_problem(
        await passkey_login(client, authenticator.get(await login_options(client), ORIGIN)), 401, "invalid_passkey"
    )


async def test_disabled_users_and_unverified_emails(client: httpx.AsyncClient, app: App) -> None:
    alice = await register(client)
    token = (await login(client))["access_token"]
    authenticator = SoftAuthenticator()
    await add_passkey(client, token, authenticator)
    admin = await make_admin(app)
    assert (await client.patch(f"/users/{alice['id']}", json={"disabled": True}, headers=admin)).status_code == 200
    assert_problem(
        await passkey_login(client, authenticator.get(await login_options(client), ORIGIN)), 401, "invalid_passkey"
    )
    assert (await client.patch(f"/users/{alice['id']}", json={"disabled": False}, headers=admin)).status_code == 200
    app.services.auth.policy = app.services.auth.policy.__class__(require_verified_email=True)
    assert_problem(
        await passkey_login(client, authenticator.get(await login_options(client), ORIGIN)), 403, "email_not_verified"
    )


async def test_a_passkey_login_needs_no_code_of_two_step_login(client: httpx.AsyncClient) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    authenticator = SoftAuthenticator()
    await add_passkey(client, token, authenticator)
    await enable(client, token)
    assert_problem(
        await client.post("/auth/login", json={"username": "alice", "password": PASSWORD}), 403, "mfa_required"
    )
    assert (await passkey_login(client, authenticator.get(await login_options(client), ORIGIN))).status_code == 200


async def test_expired_challenges_and_the_limit_per_account(
    client: httpx.AsyncClient, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    authenticator = SoftAuthenticator()
    monkeypatch.setattr(app.services.passkeys.challenges, "ttl", 0)  # expired as soon as made
    answer = authenticator.create(await registration_options(client, token), ORIGIN)
    assert_problem(
        await client.post("/auth/passkeys", json={"credential": answer}, headers=bearer(token)),
        422,
        "validation_failed",
    )
    monkeypatch.undo()

    monkeypatch.setattr("authgate.domain.passkeys.MAX_PASSKEYS", 2)
    await add_passkey(client, token, SoftAuthenticator(), "one")
    await add_passkey(client, token, SoftAuthenticator(), "two")
    full = await client.post("/auth/passkeys/registration-options", json={"password": PASSWORD}, headers=bearer(token))
    assert_problem(full, 409, "too_many_passkeys")
    wrong = await client.post(
        "/auth/passkeys/registration-options", json={"password": "not-the-password"}, headers=bearer(token)
    )
    assert assert_problem(wrong, 422, "validation_failed")["errors"][0]["field"] == "password"


async def test_another_users_passkey_cannot_be_removed(client: httpx.AsyncClient) -> None:
    await register(client)
    await register(client, "bob")
    alice, bob = (await login(client))["access_token"], (await login(client, "bob"))["access_token"]
    passkey = await add_passkey(client, alice, SoftAuthenticator())
    assert_problem(
        await client.delete(f"/auth/passkeys/{passkey['id']}", headers=bearer(bob)), 404, "passkey_not_found"
    )
    assert len((await client.get("/auth/passkeys", headers=bearer(alice))).json()["items"]) == 1


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8080", "http://[::1]:8080"])
async def test_passkeys_are_off_when_the_issuer_is_an_ip_address(issuer: str, sqlite_url: str) -> None:
    from authgate.app import create_app

    app = create_app(make_settings(sqlite_url, issuer=issuer))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
            assert_problem(await client.post("/auth/login/passkey/options"), 404, "passkeys_unavailable")
            await register(client)
            token = (await login(client))["access_token"]
            refused = await client.post(
                "/auth/passkeys/registration-options", json={"password": PASSWORD}, headers=bearer(token)
            )
            assert_problem(refused, 404, "passkeys_unavailable")
    finally:
        await app.shutdown()


async def test_hostile_answers_get_a_clear_4xx(client: httpx.AsyncClient) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    authenticator = SoftAuthenticator()
    await add_passkey(client, token, authenticator)

    def with_client_data(answer: dict[str, Any], extra: bytes) -> dict[str, Any]:
        data = json.loads(b64url_decode(answer["response"]["clientDataJSON"]))
        raw = json.dumps(data).encode()[:-1] + b', "x": ' + extra + b"}"
        answer["response"]["clientDataJSON"] = b64url(raw)
        return answer

    nested = b"[" * 2500 + b"]" * 2500
    deep_cbor = b"\x81" * 10000 + b"\x00"
    logins: list[tuple[str, Any]] = [
        ("deeply nested client data", lambda a: with_client_data(a, nested)),
        ("client data not UTF-8", lambda a: a["response"].update(clientDataJSON=b64url(b"\xff\xfe{")) or a),
        ("client data not JSON", lambda a: a["response"].update(clientDataJSON=b64url(b"[1, 2")) or a),
        ("authenticator data too short", lambda a: a["response"].update(authenticatorData=b64url(b"\x00")) or a),
        (
            "deep CBOR as authenticator data",
            lambda a: a["response"].update(authenticatorData=b64url(deep_cbor[:3000])) or a,
        ),
        ("signature of garbage", lambda a: a["response"].update(signature=b64url(b"\x30\x00")) or a),
        ("rawId unlike id", lambda a: a.update(rawId=b64url(b"x" * 1000)) or a),
        ("user handle of garbage", lambda a: a["response"].update(userHandle="___") or a),
    ]
    for case, spoil in logins:
        answer = spoil(authenticator.get(await login_options(client), ORIGIN))
        response = await passkey_login(client, answer)
        assert response.status_code in (401, 422), (case, response.text)
        assert response.headers["content-type"] == "application/problem+json", case

    registrations: list[tuple[str, Any]] = [
        ("deeply nested client data", lambda a: with_client_data(a, nested)),
        ("deep CBOR attestation", lambda a: a["response"].update(attestationObject=b64url(deep_cbor)) or a),
        ("CBOR of the wrong shape", lambda a: a["response"].update(attestationObject=b64url(b"\xa1\x01\x02")) or a),
        ("attestation not CBOR", lambda a: a["response"].update(attestationObject=b64url(b"\xff" * 40)) or a),
    ]
    for case, spoil in registrations:
        answer = spoil(SoftAuthenticator().create(await registration_options(client, token), ORIGIN))
        response = await client.post("/auth/passkeys", json={"credential": answer}, headers=bearer(token))
        assert response.status_code == 422, (case, response.text)
        assert response.headers["content-type"] == "application/problem+json", case

    for body in (
        {"credential": {"id": "x" * 2000, "rawId": "x", "type": "public-key", "response": {}}},
        {"credential": {"id": "x", "rawId": "x", "type": "password", "response": {}}},
        {"credential": {"id": "x", "rawId": "x", "type": "public-key", "response": {"clientDataJSON": "not base64!"}}},
        {"credential": []},
        {},
    ):
        assert_problem(await client.post("/auth/login/passkey", json=body), 422, "validation_failed")
    assert len((await client.get("/auth/passkeys", headers=bearer(token))).json()["items"]) == 1

    # Transports the browser may not name are not kept (nor repeated ones).
    answer = SoftAuthenticator().create(await registration_options(client, token), ORIGIN)
    answer["response"]["transports"] = ["x y", "usb", "hybrid", "usb", "<script>"]
    added = await client.post("/auth/passkeys", json={"credential": answer}, headers=bearer(token))
    assert added.status_code == 201 and added.json()["transports"] == ["usb", "hybrid"]


async def test_an_admin_lists_and_removes_a_users_passkeys(client: httpx.AsyncClient, app: App) -> None:
    alice = await register(client)
    token = (await login(client))["access_token"]
    authenticator = SoftAuthenticator()
    phone = await add_passkey(client, token, authenticator, "Phone")
    await add_passkey(client, token, SoftAuthenticator(), "Laptop")
    admin = await make_admin(app)
    listed = (await client.get(f"/users/{alice['id']}/passkeys", headers=admin)).json()["items"]
    assert [p["name"] for p in listed] == ["Phone", "Laptop"]
    assert (await client.get(f"/users/{alice['id']}", headers=admin)).json()["passkeys"] == 2
    assert_problem(await client.get(f"/users/{alice['id']}/passkeys", headers=bearer(token)), 403, "forbidden")
    assert_problem(
        await client.get("/users/00000000-0000-7000-8000-000000000000/passkeys", headers=admin), 404, "user_not_found"
    )

    removed = await client.delete(f"/users/{alice['id']}/passkeys/{phone['id']}", headers=admin)
    assert removed.status_code == 204
    assert_problem(
        await client.delete(f"/users/{alice['id']}/passkeys/{phone['id']}", headers=admin), 404, "passkey_not_found"
    )
    assert_problem(
        await client.delete(f"/users/not-an-id/passkeys/{phone['id']}", headers=admin), 404, "user_not_found"
    )
    assert_problem(
        await passkey_login(client, authenticator.get(await login_options(client), ORIGIN)), 401, "invalid_passkey"
    )
    assert [p["name"] for p in (await client.get("/auth/passkeys", headers=bearer(token))).json()["items"]] == [
        "Laptop"
    ]
    events = (await client.get("/audit", params={"event": "passkey_removed"}, headers=admin)).json()["items"]
    assert [(e["user_id"], e["detail"]["name"], e["detail"]["by"]) for e in events] == [(alice["id"], "Phone", "admin")]
    assert events[0]["actor_id"] is not None and events[0]["actor_id"] != alice["id"]


async def test_a_passkey_is_renamed(client: httpx.AsyncClient) -> None:
    await register(client)
    await register(client, "bob")
    token, bob = (await login(client))["access_token"], (await login(client, "bob"))["access_token"]
    passkey = await add_passkey(client, token, SoftAuthenticator(), "Phone")
    path = f"/auth/passkeys/{passkey['id']}"
    renamed = await client.patch(path, json={"name": "  Old phone "}, headers=bearer(token))
    assert renamed.status_code == 200 and renamed.json() == {**passkey, "name": "Old phone"}
    assert (await client.patch(path, json={"name": ""}, headers=bearer(token))).json()["name"] == "Passkey"
    assert_problem(await client.patch(path, json={"name": "x"}, headers=bearer(bob)), 404, "passkey_not_found")
    assert_problem(await client.patch(path, json={"name": "x" * 65}, headers=bearer(token)), 422, "validation_failed")
    assert_problem(await client.patch(path, json={"nom": "x"}, headers=bearer(token)), 422, "validation_failed")
    for bad in ("a\x00b", "line\nbreak", "\x1b[31m"):
        refused = await client.patch(path, json={"name": bad}, headers=bearer(token))
        assert assert_problem(refused, 422, "validation_failed")["errors"][0]["field"] == "name", bad
    listed = (await client.get("/auth/passkeys", headers=bearer(token))).json()["items"]
    assert [p["name"] for p in listed] == ["Passkey"]

    # Adding one: refused before the answer is checked, so the same answer works with a good name.
    answer = SoftAuthenticator().create(await registration_options(client, token), ORIGIN)
    refused = await client.post("/auth/passkeys", json={"credential": answer, "name": "a\x00b"}, headers=bearer(token))
    assert assert_problem(refused, 422, "validation_failed")["errors"][0]["field"] == "name"
    added = await client.post("/auth/passkeys", json={"credential": answer, "name": "Tablet"}, headers=bearer(token))
    assert added.status_code == 201, added.text
