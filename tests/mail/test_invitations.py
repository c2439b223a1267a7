"""Invitations and the password links an admin sends, over a real SMTP server: an account made without a
password signs in to nothing until its user follows the mailed link and chooses one; the admin can send that link
again, or a reset link to any other account, and never learns the password."""

from __future__ import annotations

import httpx
import pytest

from abuse_helpers import make_admin
from authgate.app import App
from helpers import PASSWORD, bearer, login, register
from mailserver import RESET, MailServer, link_of, link_token, settings_fixture, smtp_fixture  # noqa: F401 (fixtures)

INVITATION = "Your account is ready: choose a password"
CHOSEN = "a-passphrase-of-their-own-7"


async def invite(client: httpx.AsyncClient, admin: dict[str, str], name: str = "bob") -> dict[str, object]:
    response = await client.post(
        "/users", json={"username": name, "email": f"{name}@example.com", "roles": ["user"]}, headers=admin
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def audit(client: httpx.AsyncClient, admin: dict[str, str], user_id: object) -> list[dict[str, object]]:
    response = await client.get("/audit", params={"user_id": str(user_id)}, headers=admin)
    assert response.status_code == 200, response.text
    events: list[dict[str, object]] = response.json()["items"]
    return events


async def test_an_invited_user_signs_in_only_after_choosing_a_password(
    app: App, client: httpx.AsyncClient, smtp: MailServer
) -> None:
    admin = await make_admin(app)
    bob = await invite(client, admin)
    details = await client.get(f"/users/{bob['id']}", headers=admin)
    assert details.json()["has_password"] is False and details.json()["email_verified"] is False

    mail = await smtp.wait_for_mail(to="bob@example.com", subject=INVITATION)
    assert "with the username bob" in mail.text and "7 days" in mail.text
    page, token = link_of(mail)
    assert page.endswith("/reset-password")

    # No password signs in to the account meanwhile: not an empty one, not a guess; the same answer as any
    # wrong password.
    for guess in ("", PASSWORD, "$argon2id$"):
        refused = await client.post("/auth/login", json={"username": "bob", "password": guess})
        assert refused.status_code in (401, 422), refused.text
        if refused.status_code == 401:
            assert refused.json()["code"] == "invalid_credentials"

    done = await client.post("/auth/reset-password", json={"token": token, "new_password": CHOSEN})
    assert done.status_code == 204, done.text
    tokens = await login(client, "bob", CHOSEN)
    me = (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email_verified"] is True  # following the link proved the address
    assert (await client.get(f"/users/{bob['id']}", headers=admin)).json()["has_password"] is True

    events = {e["event"]: e for e in await audit(client, admin, bob["id"])}
    assert events["admin_user_create"]["detail"] == {"by": "admin", "invited": True}
    assert events["password_reset_request"]["detail"] == {"invitation": True}
    assert events["password_reset_request"]["actor_id"] == events["admin_user_create"]["actor_id"] is not None
    assert "password_reset" in events


async def test_the_admin_sends_the_invitation_again_and_only_the_newest_link_works(
    app: App, client: httpx.AsyncClient, smtp: MailServer
) -> None:
    admin = await make_admin(app)
    bob = await invite(client, admin)
    first = link_token(await smtp.wait_for_mail(to="bob@example.com", subject=INVITATION))
    again = await client.post(f"/users/{bob['id']}/password-link", headers=admin)
    assert again.status_code == 202 and again.json() == {"status": "check_your_email"}
    second = link_token(await smtp.wait_for_mail(to="bob@example.com", subject=INVITATION, count=2))
    assert second != first
    stale = await client.post("/auth/reset-password", json={"token": first, "new_password": CHOSEN})
    assert stale.status_code == 400 and stale.json()["code"] == "invalid_token"
    chosen = await client.post("/auth/reset-password", json={"token": second, "new_password": CHOSEN})
    assert chosen.status_code == 204, chosen.text
    await login(client, "bob", CHOSEN)


async def test_for_an_account_with_a_password_the_admin_sends_a_reset_link(
    app: App, client: httpx.AsyncClient, smtp: MailServer
) -> None:
    admin = await make_admin(app)
    alice = await register(client, "alice")
    signed_in = await login(client, "alice")
    sent = await client.post(f"/users/{alice['id']}/password-link", headers=admin)
    assert sent.status_code == 202, sent.text
    mail = await smtp.wait_for_mail(to="alice@example.com", subject=RESET)
    assert "30 minutes" in mail.text
    done = await client.post("/auth/reset-password", json={"token": link_token(mail), "new_password": CHOSEN})
    assert done.status_code == 204, done.text
    assert (await client.get("/auth/me", headers=bearer(signed_in["access_token"]))).status_code == 401
    old = await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    await login(client, "alice", CHOSEN)
    (request,) = [e for e in await audit(client, admin, alice["id"]) if e["event"] == "password_reset_request"]
    assert request["detail"] == {"invitation": False} and request["actor_id"] is not None


@pytest.mark.parametrize(
    ("user_id", "status", "code"),
    [
        ("0190a0a0-0000-7000-8000-000000000000", 404, "user_not_found"),
        ("not-an-id", 404, "user_not_found"),
        ("disabled", 409, "user_disabled"),
    ],
)
async def test_a_link_for_no_one_or_a_disabled_account_is_refused_and_nothing_is_mailed(
    app: App, client: httpx.AsyncClient, smtp: MailServer, user_id: str, status: int, code: str
) -> None:
    admin = await make_admin(app)
    if user_id == "disabled":
        carol = await register(client, "carol")
        user_id = str(carol["id"])
        assert (await client.patch(f"/users/{user_id}", json={"disabled": True}, headers=admin)).status_code == 200
    response = await client.post(f"/users/{user_id}/password-link", headers=admin)
    assert response.status_code == status and response.json()["code"] == code, response.text
    assert response.headers["content-type"] == "application/problem+json"
    await app.services.mail.idle()
    assert smtp.to(None, RESET) == [] and smtp.to(None, INVITATION) == []


async def test_only_an_admin_sends_links_and_only_an_admin_leaves_out_the_password(
    app: App, client: httpx.AsyncClient, smtp: MailServer
) -> None:
    alice = await register(client, "alice")
    access = bearer((await login(client, "alice"))["access_token"])
    assert (await client.post(f"/users/{alice['id']}/password-link")).status_code == 401
    refused = await client.post(f"/users/{alice['id']}/password-link", headers=access)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    self_invited = await client.post("/auth/register", json={"username": "eve", "email": "eve@example.com"})
    assert self_invited.status_code == 422 and self_invited.json()["errors"][0]["field"] == "password"
