"""Password reset over a real SMTP server: the same 202 for anyone, the link, the new password, every session
ended, single use, expiry, another user's token, and a flood of requests (the `email` rate limits)."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx
import pytest

from authgate.app import App, create_app
from authgate.config import Settings
from authgate.domain.ratelimits import DEFAULT_RATE_LIMITS
from helpers import PASSWORD, bearer, login, make_settings, register
from mailserver import RESET, MailServer, link_of, link_token, settings_fixture, smtp_fixture  # noqa: F401 (fixtures)

NEW_PASSWORD = "a-brand-new-passphrase-42"


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/auth/forgot-password", json={"email": email})


async def reset_link(client: httpx.AsyncClient, smtp: MailServer, email: str, count: int = 1) -> str:
    """Ask for a reset link and return the token of the `count`-th reset mail to `email`."""
    response = await forgot(client, email)
    assert response.status_code == 202, response.text
    return link_token(await smtp.wait_for_mail(to=email, count=count, subject=RESET))


async def started(settings: Settings) -> App:
    app = create_app(settings)
    await app.startup()
    return app


def client_of(app: App) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://authgate.test")


async def test_reset_sets_the_password_and_ends_every_session(
    client: httpx.AsyncClient, smtp: MailServer, settings: Settings
) -> None:
    await register(client, "alice")
    phone, laptop = await login(client, "alice"), await login(client, "alice")
    response = await forgot(client, "Alice@Example.com")
    assert response.status_code == 202 and response.json() == {"status": "check_your_email"}
    mail = await smtp.wait_for_mail(to="alice@example.com", subject=RESET)
    assert "30 minutes" in mail.text
    page, token = link_of(mail)
    assert page == f"{settings.issuer}/reset-password"

    weak = await client.post("/auth/reset-password", json={"token": token, "new_password": "password"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "new_password"
    personal = await client.post("/auth/reset-password", json={"token": token, "new_password": "alice@example.com"})
    assert personal.status_code == 422

    done = await client.post("/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD})
    assert done.status_code == 204, done.text  # a 422 before left the link usable
    for pair in (phone, laptop):
        assert (await client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 401
        assert (await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 401
    old = await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    tokens = await login(client, "alice", NEW_PASSWORD)
    # Following the link proved the address: it is verified now.
    assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()["email_verified"] is True

    again = await client.post("/auth/reset-password", json={"token": token, "new_password": "yet-another-passphrase"})
    assert again.status_code == 400 and again.json()["code"] == "invalid_token"
    await login(client, "alice", NEW_PASSWORD)


async def test_unknown_and_known_addresses_get_the_same_answer_and_only_the_known_a_mail(
    app: App, client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await register(client, "alice")
    await app.services.mail.idle()
    before = len(smtp.received)
    known, unknown = await forgot(client, "alice@example.com"), await forgot(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    drop = {"x-request-id", "date"}
    assert {k: v for k, v in known.headers.items() if k not in drop} == {
        k: v for k, v in unknown.headers.items() if k not in drop
    }
    await app.services.mail.idle()
    assert [m.rcpt_tos for m in smtp.received[before:]] == [["alice@example.com"]]
    assert smtp.to("nobody@example.com") == []


async def test_the_answer_takes_the_same_time_for_known_and_unknown_addresses(
    database_url: str, smtp: MailServer
) -> None:
    """The request does no database work for either (the look-up runs in the background), so the time does not
    tell them apart. Interleaved, compared by medians, with a bound loose enough for a busy machine; up to three
    rounds, passing when one is free of interference from parallel tests (a real difference fails them all)."""
    app = await started(make_settings(database_url, **smtp.settings(), rate_limits="email:ip=none,account=none"))
    try:
        async with client_of(app) as client:
            await register(client, "alice")
            for _round in range(3):
                timings: dict[str, list[float]] = {"alice@example.com": [], "nobody@example.com": []}
                for _ in range(15):
                    for address, times in timings.items():
                        await app.services.mail.idle()  # neither measurement pays for the other's background work
                        start = time.perf_counter()
                        assert (await forgot(client, address)).status_code == 202
                        times.append(time.perf_counter() - start)
                known, unknown = (statistics.median(t) for t in timings.values())
                if known < unknown * 1.5 + 0.002 and unknown < known * 1.5 + 0.002:
                    break
            else:
                raise AssertionError(f"known {known * 1000:.2f} ms, unknown {unknown * 1000:.2f} ms, three rounds")
    finally:
        await app.shutdown()


async def test_an_expired_link_resets_nothing(database_url: str, smtp: MailServer) -> None:
    app = await started(make_settings(database_url, **smtp.settings(), password_reset_ttl=1))
    try:
        async with client_of(app) as client:
            await register(client, "alice")
            token = await reset_link(client, smtp, "alice@example.com")
            await asyncio.sleep(1.2)
            response = await client.post("/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD})
            assert response.status_code == 400 and response.json()["code"] == "invalid_token"
            await login(client, "alice", PASSWORD)
    finally:
        await app.shutdown()


async def test_a_token_resets_only_its_own_user(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client, "alice")
    await register(client, "bob")
    bob_session = await login(client, "bob")
    alice_token = await reset_link(client, smtp, "alice@example.com")
    bob = bearer(bob_session["access_token"])
    # Bob, signed in, presents Alice's token: Alice's password changes; Bob's and his session do not.
    response = await client.post(
        "/auth/reset-password", json={"token": alice_token, "new_password": NEW_PASSWORD}, headers=bob
    )
    assert response.status_code == 204
    assert (await client.get("/auth/me", headers=bob)).status_code == 200
    await login(client, "bob", PASSWORD)
    await login(client, "alice", NEW_PASSWORD)


async def test_a_new_link_replaces_the_older_one(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client, "alice")
    first = await reset_link(client, smtp, "alice@example.com")
    second = await reset_link(client, smtp, "alice@example.com", count=2)
    stale = await client.post("/auth/reset-password", json={"token": first, "new_password": NEW_PASSWORD})
    assert stale.status_code == 400
    assert (
        await client.post("/auth/reset-password", json={"token": second, "new_password": NEW_PASSWORD})
    ).status_code == 204


async def test_a_reset_token_verifies_nothing_else(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client, "alice")
    token = await reset_link(client, smtp, "alice@example.com")
    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 400
    assert (await client.post("/auth/confirm-email-change", json={"token": token})).status_code == 400


async def test_a_disabled_account_gets_no_mail_and_its_link_stops_working(
    app: App, client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await app.services.auth.register("root", "root@example.com", PASSWORD, roles=["admin", "user"], by_admin=True)
    admin = bearer((await login(client, "root"))["access_token"])
    alice = await register(client, "alice")
    token = await reset_link(client, smtp, "alice@example.com")
    assert (await client.patch(f"/users/{alice['id']}", json={"disabled": True}, headers=admin)).status_code == 200
    response = await client.post("/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 400
    assert (await forgot(client, "alice@example.com")).status_code == 202
    await app.services.mail.idle()
    assert len(smtp.to("alice@example.com")) == 2


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/auth/forgot-password", {}, 422),
        ("/auth/forgot-password", {"email": "not-an-address"}, 422),
        ("/auth/forgot-password", {"email": "a@example.com", "username": "a"}, 422),
        ("/auth/forgot-password", {"email": 3}, 422),
        ("/auth/forgot-password", {"email": "a" * 300 + "@example.com"}, 422),
        ("/auth/reset-password", {"token": "x" * 43}, 422),
        ("/auth/reset-password", {"new_password": NEW_PASSWORD}, 422),
        ("/auth/reset-password", {"token": "x" * 43, "new_password": NEW_PASSWORD}, 400),
        ("/auth/reset-password", {"token": "x" * 43, "new_password": ""}, 422),
        ("/auth/reset-password", {"token": "../../etc", "new_password": NEW_PASSWORD}, 400),
    ],
)
async def test_precise_4xx(client: httpx.AsyncClient, path: str, body: dict[str, Any], status: int) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_flood_of_reset_requests_is_rate_limited(database_url: str, smtp: MailServer) -> None:
    """The default `email` policy (3 per hour per account, 5 per minute per IP): past it, 429 with Retry-After
    and no mail, for known and unknown addresses alike."""
    settings = make_settings(database_url, **smtp.settings(), rate_limits=DEFAULT_RATE_LIMITS)
    app = await started(settings)
    async with client_of(app) as client:
        try:
            await _flood(app, client, smtp)
        finally:
            await app.shutdown()


async def _flood(app: App, client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client, "alice")
    answers = [(await forgot(client, "alice@example.com")).status_code for _ in range(6)]
    assert answers == [202, 202, 202, 429, 429, 429]
    limited = await forgot(client, "ALICE@example.com")
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) > 0
    # Per IP (five a minute, refused ones included): another address from the same client is refused too.
    assert (await forgot(client, "nobody@example.com")).status_code == 429
    await app.services.mail.idle()
    resets = smtp.to("alice@example.com", RESET)
    assert len(resets) == 3
    assert smtp.to("nobody@example.com") == []
    # Only the newest link works (two outbox workers may deliver the three mails in any order).
    results = []
    for mail in resets:
        body = {"token": link_token(mail), "new_password": NEW_PASSWORD}
        results.append((await client.post("/auth/reset-password", json=body)).status_code)
    assert sorted(results) == [204, 400, 400]
