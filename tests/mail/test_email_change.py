"""Changing one's email over a real SMTP server: the current password, confirmation by the new address, the
old address told, the links to the old address voided; and the templates override at start-up."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from authgate.app import App, create_app
from authgate.config import ConfigError, Settings, load_settings
from authgate.services import Services
from helpers import PASSWORD, bearer, login, make_settings, register
from mailserver import (  # noqa: F401 (fixtures)
    CHANGED,
    RESET,
    VERIFY,
    MailServer,
    link_of,
    link_token,
    settings_fixture,
    smtp_fixture,
)

NEW = "alice.new@example.org"


async def change(client: httpx.AsyncClient, token: str, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.patch("/auth/me", json={"email": email, "current_password": password}, headers=bearer(token))


async def test_the_new_address_confirms_and_the_old_one_is_told(
    app: App, client: httpx.AsyncClient, smtp: MailServer, settings: Settings
) -> None:
    await register(client, "alice")
    verify_old = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=VERIFY))
    tokens = await login(client, "alice")
    response = await change(client, tokens["access_token"], "Alice.New@Example.org")
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "confirm_new_email", "email": "Alice.New@example.org"}
    me = (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email"] == "alice@example.com"  # nothing changed yet

    mail = await smtp.wait_for_mail(to="alice.new@example.org")
    assert mail.subject == "Confirm your new email address" and "Alice.New@example.org" in mail.text
    page, token = link_of(mail)
    assert page == f"{settings.issuer}/confirm-email-change"
    confirmed = await client.post("/auth/confirm-email-change", json={"token": token})
    assert confirmed.status_code == 204, confirmed.text

    me = (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email"] == "Alice.New@example.org" and me["email_verified"] is True
    notice = await smtp.wait_for_mail(to="alice@example.com", subject=CHANGED)
    assert "alice@example.com" in notice.text and "Alice.New@example.org" in notice.text
    assert "token=" not in notice.text
    await login(client, NEW)
    assert (
        await client.post("/auth/login", json={"username": "alice@example.com", "password": PASSWORD})
    ).status_code == 401

    again = await client.post("/auth/confirm-email-change", json={"token": token})
    assert again.status_code == 400 and again.json()["code"] == "invalid_token"
    # The link mailed to the old address at registration no longer verifies anything.
    assert (await client.post("/auth/verify-email", json={"token": verify_old})).status_code == 400


async def test_the_current_password_and_a_new_free_address_are_required(
    app: App, client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await register(client, "alice")
    await register(client, "bob")
    token = (await login(client, "alice"))["access_token"]
    wrong = await change(client, token, NEW, password="not-my-password")
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    same = await change(client, token, "ALICE@example.com")
    assert same.status_code == 422 and same.json()["errors"][0]["field"] == "email"
    taken = await change(client, token, "Bob@Example.com")
    assert taken.status_code == 409 and taken.json()["code"] == "email_taken"
    assert (await client.patch("/auth/me", json={"email": NEW, "current_password": PASSWORD})).status_code == 401
    await app.services.mail.idle()
    assert smtp.to(NEW) == [] and len(smtp.to("bob@example.com")) == 1  # his verification mail only


async def test_an_address_taken_before_confirmation_is_409_and_the_link_keeps(
    client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await register(client, "alice")
    token = (await login(client, "alice"))["access_token"]
    assert (await change(client, token, NEW)).status_code == 202
    link = link_token(await smtp.wait_for_mail(to=NEW))
    await register(client, "mallory", email=NEW)
    taken = await client.post("/auth/confirm-email-change", json={"token": link})
    assert taken.status_code == 409 and taken.json()["code"] == "email_taken"
    me = (await client.get("/auth/me", headers=bearer(token))).json()
    assert me["email"] == "alice@example.com"


async def test_a_new_request_voids_the_older_link_and_tokens_stay_with_their_user(
    client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await register(client, "alice")
    await register(client, "bob")
    alice = (await login(client, "alice"))["access_token"]
    bob = (await login(client, "bob"))["access_token"]
    assert (await change(client, alice, "first@example.org")).status_code == 202
    first = link_token(await smtp.wait_for_mail(to="first@example.org"))
    assert (await change(client, alice, "second@example.org")).status_code == 202
    second = link_token(await smtp.wait_for_mail(to="second@example.org"))
    assert (await client.post("/auth/confirm-email-change", json={"token": first})).status_code == 400
    # Bob confirming Alice's link (signed in or not) changes Alice's address, never his own.
    assert (
        await client.post("/auth/confirm-email-change", json={"token": second}, headers=bearer(bob))
    ).status_code == 204
    assert (await client.get("/auth/me", headers=bearer(bob))).json()["email"] == "bob@example.com"
    assert (await client.get("/auth/me", headers=bearer(alice))).json()["email"] == "second@example.org"


async def test_a_password_reset_cancels_a_pending_change(client: httpx.AsyncClient, smtp: MailServer) -> None:
    """Whoever started a change with a stolen password loses it when the owner resets the password."""
    await register(client, "alice")
    token = (await login(client, "alice"))["access_token"]
    assert (await change(client, token, "attacker@example.net")).status_code == 202
    link = link_token(await smtp.wait_for_mail(to="attacker@example.net"))
    assert (await client.post("/auth/forgot-password", json={"email": "alice@example.com"})).status_code == 202
    reset = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=RESET))
    body = {"token": reset, "new_password": "the-owner-is-back-2026"}
    assert (await client.post("/auth/reset-password", json=body)).status_code == 204
    assert (await client.post("/auth/confirm-email-change", json={"token": link})).status_code == 400


async def test_a_password_change_cancels_a_pending_change_and_reset_links(
    client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await register(client, "alice")
    token = (await login(client, "alice"))["access_token"]
    assert (await change(client, token, "attacker@example.net")).status_code == 202
    link = link_token(await smtp.wait_for_mail(to="attacker@example.net"))
    assert (await client.post("/auth/forgot-password", json={"email": "alice@example.com"})).status_code == 202
    reset = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=RESET))
    body = {"current_password": PASSWORD, "new_password": "the-owner-is-back-2026"}
    assert (await client.post("/auth/password", json=body, headers=bearer(token))).status_code == 204
    assert (await client.post("/auth/confirm-email-change", json={"token": link})).status_code == 400
    body = {"token": reset, "new_password": "yet-another-passphrase-9"}
    assert (await client.post("/auth/reset-password", json=body)).status_code == 400


async def test_with_hidden_account_existence_a_taken_address_answers_202_and_mails_nothing(
    database_url: str, smtp: MailServer
) -> None:
    app = create_app(make_settings(database_url, **smtp.settings(), hide_account_existence=True))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
            for name in ("alice", "bob"):
                response = await client.post(
                    "/auth/register", json={"username": name, "email": f"{name}@example.com", "password": PASSWORD}
                )
                assert response.status_code == 202
            token = (await login(client, "alice"))["access_token"]
            taken = await change(client, token, "bob@example.com")
            assert taken.status_code == 202 and taken.json() == {
                "status": "confirm_new_email",
                "email": "bob@example.com",
            }
            # Registering a taken address tells its owner (the hook of AuthService.existing_account).
            again = await client.post(
                "/auth/register", json={"username": "bobby", "email": "BOB@example.com", "password": PASSWORD}
            )
            assert again.status_code == 202
            await app.services.mail.idle()
            exists = "Someone tried to register with your email address"
            assert sorted(m.subject for m in smtp.to("bob@example.com")) == [exists, VERIFY]
            assert f"{app.settings.issuer}/forgot-password" in smtp.to("bob@example.com", exists)[0].text
    finally:
        await app.shutdown()


async def test_templates_override_at_start(database_url: str, smtp: MailServer, tmp_path: Path) -> None:
    (tmp_path / "verify_email.txt").write_text(
        '{% set subject = "Bitte bestätigen Sie Ihre Adresse" %}Hallo {{ username }}, {{ link }}\n'
    )
    app = create_app(make_settings(database_url, **smtp.settings(), mail_templates_dir=str(tmp_path)))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
            await register(client, "alice")
            mail = await smtp.wait_for_mail(to="alice@example.com")
            assert mail.subject == "Bitte bestätigen Sie Ihre Adresse"
            assert mail.text.startswith("Hallo alice, http://") and link_token(mail)
    finally:
        await app.shutdown()


async def test_services_refuse_to_start_with_a_broken_override(tmp_path: Path) -> None:
    (tmp_path / "verify_email.txt").write_text("{{ nope }")
    settings = load_settings({}, database_url=f"sqlite:///{tmp_path}/a.db", mail_templates_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="AUTHGATE_MAIL_TEMPLATES_DIR"):
        await Services.start(settings)
