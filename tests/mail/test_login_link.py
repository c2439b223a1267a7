"""Sign-in links (AUTHGATE_EMAIL_LOGIN) over a real SMTP server: the same 202 for anyone, the link signs in once,
within its time, only while the address is the account's; two-step login still asks for its code; off by
default."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

import httpx
import pytest

from abuse_helpers import make_admin
from authgate.app import App, create_app
from authgate.config import Settings
from helpers import PASSWORD, assert_problem, bearer, login, make_settings, register
from mailserver import MailServer, link_of, link_token, smtp_fixture  # noqa: F401 (fixture)
from mfa_helpers import code, enable, second_step
from pages_helpers import csrf_token, form_token

SUBJECT = "Your sign-in link"


@pytest.fixture
def settings(database_url: str, smtp: MailServer) -> Settings:
    return make_settings(database_url, email_login=True, **smtp.settings())


async def ask(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/auth/login/email", json={"email": email})


async def follow(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/login/email/verify", json={"token": token})


def amr(access_token: str) -> list[str]:
    payload = access_token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return list(claims["amr"])


async def test_a_link_signs_in_once(client: httpx.AsyncClient, smtp: MailServer, settings: Settings) -> None:
    await register(client)
    asked = await ask(client, "ALICE@example.com")
    assert asked.status_code == 202 and asked.json() == {"status": "check_your_email"}
    mail = await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT)
    assert "15 minutes" in mail.text and "Hello alice" in mail.text
    page, token = link_of(mail)
    assert page == f"{settings.issuer}/login/email/verify"

    signed = await follow(client, token)
    assert signed.status_code == 200, signed.text
    pair = signed.json()
    assert amr(pair["access_token"]) == ["otp"]
    me = (await client.get("/auth/me", headers=bearer(pair["access_token"]))).json()
    assert me["username"] == "alice" and me["email_verified"] is True  # the link reached the address
    sessions = (await client.get("/auth/sessions", headers=bearer(pair["access_token"]))).json()["items"]
    assert [s["method"] for s in sessions] == ["email_link"]
    assert_problem(await follow(client, token), 400, "invalid_token")  # once

    # A newer link replaces an older one.
    await ask(client, "alice@example.com")
    older = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT, count=2))
    await ask(client, "alice@example.com")
    newer = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT, count=3))
    assert_problem(await follow(client, older), 400, "invalid_token")
    assert (await follow(client, newer)).status_code == 200


async def test_nobody_learns_who_has_an_account(client: httpx.AsyncClient, smtp: MailServer, app: App) -> None:
    await register(client)
    await register(client, "bob")
    admin = await make_admin(app)
    bob = (await client.get("/users", params={"q": "bob"}, headers=admin)).json()["items"][0]
    assert (await client.patch(f"/users/{bob['id']}", json={"disabled": True}, headers=admin)).status_code == 200
    answers = {(await ask(client, address)).text for address in ("nobody@example.com", "bob@example.com")}
    assert answers == {(await ask(client, "alice@example.com")).text}
    await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT)
    assert smtp.to("nobody@example.com") == [] and smtp.to("bob@example.com", SUBJECT) == []
    assert_problem(await ask(client, "not an address"), 422, "validation_failed")
    for token in ("t" * 43, "", "x" * 200, "not/url-safe"):
        problem = await follow(client, token)
        assert problem.status_code in (400, 422), problem.text


async def test_two_step_login_still_asks_for_its_code(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client)
    secret, _ = await enable(client, (await login(client))["access_token"])
    await ask(client, "alice@example.com")
    token = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT))
    problem = assert_problem(await follow(client, token), 403, "mfa_required")
    done = await second_step(client, problem["mfa_token"], code(secret, 1))
    assert done.status_code == 200, done.text
    assert amr(done.json()["access_token"]) == ["otp", "mfa"]
    assert_problem(await follow(client, token), 400, "invalid_token")  # used at the first step


async def test_a_link_dies_with_the_address_and_the_account(
    client: httpx.AsyncClient, smtp: MailServer, app: App
) -> None:
    alice = await register(client)
    await ask(client, "alice@example.com")
    token = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT))
    admin = await make_admin(app)
    changed = await client.patch(f"/users/{alice['id']}", json={"email": "alice2@example.com"}, headers=admin)
    assert changed.status_code == 200
    assert_problem(await follow(client, token), 400, "invalid_token")

    await ask(client, "alice2@example.com")
    token = link_token(await smtp.wait_for_mail(to="alice2@example.com", subject=SUBJECT))
    assert (await client.patch(f"/users/{alice['id']}", json={"disabled": True}, headers=admin)).status_code == 200
    assert_problem(await follow(client, token), 400, "invalid_token")


async def test_links_expire(client: httpx.AsyncClient, smtp: MailServer, app: App) -> None:
    await register(client)
    app.services.email.policy = app.services.email.policy.__class__(base_url=app.services.settings.issuer, login_ttl=1)
    await ask(client, "alice@example.com")
    token = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT))
    await asyncio.sleep(1.1)
    assert_problem(await follow(client, token), 400, "invalid_token")


async def test_off_by_default(database_url: str, smtp: MailServer) -> None:
    app = create_app(make_settings(database_url, **smtp.settings()))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
            await register(client)
            assert_problem(await ask(client, "alice@example.com"), 403, "email_login_disabled")
            assert_problem(await follow(client, "t" * 43), 403, "email_login_disabled")
            assert (await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})).is_success
        assert smtp.to("alice@example.com", SUBJECT) == []
    finally:
        await app.shutdown()


async def test_the_pages_sign_in_with_a_link(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client)
    assert 'href="/login/email"' in (await client.get("/login")).text
    asked = await client.post(
        "/login/email", data={"csrf_token": await form_token(client, "/login/email"), "email": ""}
    )
    assert asked.status_code == 422 and "Enter your email address" in asked.text
    token = await form_token(client, "/login/email")
    asked = await client.post("/login/email", data={"csrf_token": token, "email": "alice@example.com"})
    assert asked.status_code == 200 and "we have mailed it a link" in asked.text
    link = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT))

    shown = await client.get(f"/login/email/verify?token={link}")  # a GET (a mail scanner's) uses nothing
    assert shown.status_code == 200 and f'value="{link}"' in shown.text
    signed = await client.post("/login/email/verify", data={"csrf_token": csrf_token(shown.text), "token": link})
    assert signed.status_code == 303 and signed.headers["location"] == "/account"
    assert "Hello, alice" in (await client.get("/account")).text

    again = await client.get(f"/login/email/verify?token={link}")
    assert again.status_code == 400 and "This link is not valid" in again.text
    forged = await client.post("/login/email/verify", data={"csrf_token": csrf_token(shown.text), "token": "t" * 43})
    assert forged.status_code == 400 and "This link is not valid" in forged.text
    no_csrf = await client.post("/login/email/verify", data={"token": link})
    assert no_csrf.status_code == 403


async def test_the_pages_ask_for_the_code_of_two_step_login(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client)
    secret, _ = await enable(client, (await login(client))["access_token"])
    token = await form_token(client, "/login/email")
    await client.post("/login/email", data={"csrf_token": token, "email": "alice@example.com"})
    link = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT))
    shown = await client.get(f"/login/email/verify?token={link}")
    code_form = await client.post("/login/email/verify", data={"csrf_token": csrf_token(shown.text), "token": link})
    assert code_form.status_code == 200 and 'name="mfa_token"' in code_form.text
    mfa_token = re.search(r'name="mfa_token" value="([^"]+)"', code_form.text)
    assert mfa_token is not None
    data = {"csrf_token": csrf_token(code_form.text), "mfa_token": mfa_token[1], "code": code(secret, 1)}
    signed = await client.post("/login/mfa", data=data)
    assert signed.status_code == 303 and signed.headers["location"] == "/account", signed.text[:2000]


async def test_the_pages_are_absent_when_off(database_url: str, smtp: MailServer) -> None:
    app = create_app(make_settings(database_url, **smtp.settings()))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
            assert "/login/email" not in (await client.get("/login")).text
            assert (await client.get("/login/email")).status_code == 403
    finally:
        await app.shutdown()


async def test_the_pages_keep_where_the_user_was_going(client: httpx.AsyncClient, smtp: MailServer) -> None:
    """`next` goes from the sign-in page through the form, the mailed link and its page to the redirect; a path off
    this site is dropped on the way in."""
    await register(client)
    assert 'href="/login/email?next=/account%3Ffrom%3Dapp"' in (await client.get("/login?next=/account?from=app")).text
    form = await client.get("/login/email?next=/account?from=app")
    assert 'name="next" value="/account?from=app"' in form.text
    data = {"csrf_token": csrf_token(form.text), "email": "alice@example.com", "next": "/account?from=app"}
    assert (await client.post("/login/email", data=data)).status_code == 200
    mail = await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT)
    link = link_token(mail)
    assert f"/login/email/verify?token={link}&next=/account%3Ffrom%3Dapp" in mail.text

    shown = await client.get(f"/login/email/verify?token={link}&next=/account%3Ffrom%3Dapp")
    carried = re.search(r'name="next" value="([^"]+)"', shown.text)
    assert carried is not None and carried[1] == "/account?from=app"
    data = {"csrf_token": csrf_token(shown.text), "token": link, "next": carried[1]}
    signed = await client.post("/login/email/verify", data=data)
    assert signed.status_code == 303 and signed.headers["location"] == "/account?from=app"

    hostile = await client.get("/login/email?next=//evil.example/")
    assert 'name="next"' not in hostile.text
    data = {"csrf_token": csrf_token(hostile.text), "email": "alice@example.com", "next": "https://evil.example/"}
    await client.post("/login/email", data=data)
    second = await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT, count=2)
    assert "next=" not in second.text and "evil" not in second.text


async def test_the_code_form_after_a_link_keeps_where_the_user_was_going(
    client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await register(client)
    secret, _ = await enable(client, (await login(client))["access_token"])
    token = await form_token(client, "/login/email")
    await client.post("/login/email", data={"csrf_token": token, "email": "alice@example.com", "next": "/account?x=1"})
    link = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=SUBJECT))
    shown = await client.get(f"/login/email/verify?token={link}&next=/account%3Fx%3D1")
    data = {"csrf_token": csrf_token(shown.text), "token": link, "next": "/account?x=1"}
    code_form = await client.post("/login/email/verify", data=data)
    mfa_token = re.search(r'name="mfa_token" value="([^"]+)"', code_form.text)
    assert mfa_token is not None and 'name="next" value="/account?x=1"' in code_form.text
    data = {
        "csrf_token": csrf_token(code_form.text),
        "mfa_token": mfa_token[1],
        "code": code(secret, 1),
        "next": "/account?x=1",
    }
    signed = await client.post("/login/mfa", data=data)
    assert signed.status_code == 303 and signed.headers["location"] == "/account?x=1", signed.text[:2000]
