"""Email verification over a real SMTP server: the mail, the link, single use, expiry, resending, and
AUTHGATE_REQUIRE_VERIFIED_EMAIL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

import httpx
import pytest

from authgate.app import App, create_app
from authgate.config import Settings
from helpers import PASSWORD, bearer, login, make_settings, register
from mailserver import MailServer, link_of, link_token, settings_fixture, smtp_fixture  # noqa: F401 (fixtures)


def claims(access_token: str) -> dict[str, Any]:
    payload = access_token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def test_registration_mails_a_link_that_verifies_the_address(
    app: App, client: httpx.AsyncClient, smtp: MailServer, settings: Settings
) -> None:
    alice = await register(client, "alice")
    tokens = await login(client, "alice")
    assert claims(tokens["access_token"])["email_verified"] is False
    mail = await smtp.wait_for_mail(to="alice@example.com")
    assert mail.mail_from == "no-reply@authgate.test" and mail.rcpt_tos == ["alice@example.com"]
    assert mail.subject == "Verify your email address" and mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message["Message-ID"] and mail.message["Date"]
    page, token = link_of(mail)
    assert page == f"{settings.issuer}/verify-email"
    assert len(token) >= 43  # 256 random bits
    assert f"?token={token}" in (mail.part("html") or "")  # the HTML part carries the same link
    # Only the SHA-256 of the token is stored.
    async with app.services.db.reader() as r:
        stored = await r.email_tokens.get(hashlib.sha256(token.encode()).digest())
    assert stored is not None and stored.user_id == alice["id"] and stored.purpose == "verify_email"

    verified = await client.post("/auth/verify-email", json={"token": token})
    assert verified.status_code == 204, verified.text
    me = (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email_verified"] is True
    refreshed = (await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
    assert claims(refreshed["access_token"])["email_verified"] is True

    again = await client.post("/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    "body",
    [
        {"token": "x" * 43},  # well formed, unknown
        {"token": "not a token!"},
        {"token": "a" * 129},
        {"token": "ünïcode"},
    ],
)
async def test_a_bad_token_is_400_invalid_token(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post("/auth/verify-email", json=body)
    assert response.status_code in (400, 422), response.text
    if response.status_code == 400:
        assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"token": ""}, 422),
        ({"token": 5}, 422),
        ({"token": "abc", "user_id": "x"}, 422),
        (None, 415),
    ],
)
async def test_precise_4xx_for_bad_bodies(client: httpx.AsyncClient, body: Any, status: int) -> None:
    for path in ("/auth/verify-email", "/auth/confirm-email-change"):
        if body is None:
            response = await client.post(path, content=b"token=abc")
        else:
            response = await client.post(path, json=body)
        assert response.status_code == status, (path, response.text)
    malformed = await client.post("/auth/verify-email", content=b"{", headers={"content-type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_json"


async def test_an_expired_link_does_not_verify(database_url: str, smtp: MailServer) -> None:
    app = create_app(make_settings(database_url, **smtp.settings(), email_verification_ttl=1))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
            await register(client, "alice")
            token = link_token(await smtp.wait_for_mail(to="alice@example.com"))
            await asyncio.sleep(1.2)
            response = await client.post("/auth/verify-email", json={"token": token})
            assert response.status_code == 400 and response.json()["code"] == "invalid_token"
            me = (await client.get("/auth/me", headers=bearer((await login(client, "alice"))["access_token"]))).json()
            assert me["email_verified"] is False
    finally:
        await app.shutdown()


async def test_a_token_verifies_only_its_own_user(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client, "alice")
    await register(client, "bob")
    alice_token = link_token(await smtp.wait_for_mail(to="alice@example.com"))
    bob = bearer((await login(client, "bob"))["access_token"])
    # Bob, signed in, presents Alice's token: it verifies Alice (whose link it is), never Bob.
    response = await client.post("/auth/verify-email", json={"token": alice_token}, headers=bob)
    assert response.status_code == 204
    assert (await client.get("/auth/me", headers=bob)).json()["email_verified"] is False
    alice = bearer((await login(client, "alice"))["access_token"])
    assert (await client.get("/auth/me", headers=alice)).json()["email_verified"] is True


async def test_a_verification_token_resets_no_password(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client, "alice")
    token = link_token(await smtp.wait_for_mail(to="alice@example.com"))
    reset = await client.post("/auth/reset-password", json={"token": token, "new_password": "another-long-passphrase"})
    assert reset.status_code == 400 and reset.json()["code"] == "invalid_token"
    change = await client.post("/auth/confirm-email-change", json={"token": token})
    assert change.status_code == 400
    # Refused for the wrong purpose, it still verifies.
    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 204


async def test_resend_when_signed_in_replaces_the_link(app: App, client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client, "alice")
    first = link_token(await smtp.wait_for_mail(to="alice@example.com"))
    alice = bearer((await login(client, "alice"))["access_token"])
    resent = await client.post("/auth/resend-verification", headers=alice)
    assert resent.status_code == 202 and resent.json() == {"status": "check_your_email"}
    second = link_token(await smtp.wait_for_mail(to="alice@example.com", count=2))
    assert second != first
    assert (await client.post("/auth/verify-email", json={"token": first})).status_code == 400  # replaced
    assert (await client.post("/auth/verify-email", json={"token": second})).status_code == 204
    already = await client.post("/auth/resend-verification", headers=alice)
    assert already.status_code == 409 and already.json()["code"] == "email_already_verified"
    await app.services.mail.idle()
    assert len(smtp.to("alice@example.com")) == 2
    bad = await client.post("/auth/resend-verification", headers=bearer("nope"))
    assert bad.status_code == 401


async def test_resend_when_signed_in_takes_no_body_or_a_valid_one(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    alice = bearer((await login(client, "alice"))["access_token"])
    own = await client.post("/auth/resend-verification", json={"email": "ALICE@example.com"}, headers=alice)
    assert own.status_code == 202
    for body in ({"email": "bob@example.com"}, {"email": "alice@example.com", "extra": 1}, {}, {"email": 5}):
        response = await client.post("/auth/resend-verification", json=body, headers=alice)
        assert response.status_code == 422, (body, response.text)
    malformed = await client.post(
        "/auth/resend-verification", content=b"{", headers={**alice, "content-type": "application/json"}
    )
    assert malformed.status_code == 400


async def test_anonymous_resend_answers_the_same_for_anyone(
    app: App, client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await register(client, "alice")
    await register(client, "bob")
    await smtp.wait_for_mail(to="bob@example.com")
    bob_token = link_token(smtp.to("bob@example.com")[0])
    assert (await client.post("/auth/verify-email", json={"token": bob_token})).status_code == 204
    answers = []
    for address in ("ALICE@example.com", "nobody@example.com", "bob@example.com"):
        response = await client.post("/auth/resend-verification", json={"email": address})
        answers.append((response.status_code, response.content, response.headers["content-type"]))
    assert answers[0] == answers[1] == answers[2] == (202, b'{"status":"check_your_email"}', "application/json")
    await app.services.mail.idle()
    assert len(smtp.to("alice@example.com")) == 2  # registration, then the resend
    assert smtp.to("nobody@example.com") == [] and len(smtp.to("bob@example.com")) == 1  # verified: nothing
    invalid = await client.post("/auth/resend-verification", json={"email": "not-an-address"})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "email"
    missing = await client.post("/auth/resend-verification", json={})
    assert missing.status_code == 422


async def test_an_admin_email_change_voids_the_link_to_the_old_address(
    app: App, client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await app.services.auth.register("root", "root@example.com", PASSWORD, roles=["admin", "user"], by_admin=True)
    admin = bearer((await login(client, "root"))["access_token"])
    alice = await register(client, "alice")
    token = link_token(await smtp.wait_for_mail(to="alice@example.com"))
    changed = await client.patch(f"/users/{alice['id']}", json={"email": "alice@corp.example"}, headers=admin)
    assert changed.status_code == 200, changed.text
    response = await client.post("/auth/verify-email", json={"token": token})
    assert response.status_code == 400 and response.json()["code"] == "invalid_token"


async def test_require_verified_email(database_url: str, smtp: MailServer) -> None:
    app = create_app(make_settings(database_url, **smtp.settings(), require_verified_email=True))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
            await register(client, "alice")
            refused = await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
            assert refused.status_code == 403 and refused.json()["code"] == "email_not_verified"
            # Without the password, nothing is revealed: the same 401 as for anyone.
            wrong = await client.post("/auth/login", json={"username": "alice", "password": "wrong-password-1"})
            unknown = await client.post("/auth/login", json={"username": "nobody", "password": "wrong-password-1"})
            assert wrong.status_code == unknown.status_code == 401
            assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
            token = link_token(await smtp.wait_for_mail(to="alice@example.com"))
            assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 204
            tokens = await login(client, "alice")
            assert claims(tokens["access_token"])["email_verified"] is True
    finally:
        await app.shutdown()
