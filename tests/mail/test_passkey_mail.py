"""A passkey added or removed: the user is told by mail, over a real SMTP server, with the passkey's name (escaped
in the HTML part)."""

from __future__ import annotations

import httpx
import pytest

from abuse_helpers import make_admin
from authgate.app import App
from authgate.config import Settings
from helpers import PASSWORD, bearer, login, make_settings, register
from mailserver import MailServer, smtp_fixture  # noqa: F401 (fixture)
from passkey_helpers import SoftAuthenticator

ORIGIN = "https://authgate.test"


@pytest.fixture
def settings(database_url: str, smtp: MailServer) -> Settings:
    return make_settings(database_url, issuer=ORIGIN, **smtp.settings())


async def test_adding_and_removing_a_passkey_is_told(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    options = await client.post(
        "/auth/passkeys/registration-options", json={"password": PASSWORD}, headers=bearer(access)
    )
    credential = SoftAuthenticator().create(options.json()["public_key"], ORIGIN)
    added = await client.post(
        "/auth/passkeys", json={"credential": credential, "name": "Tablet <b>"}, headers=bearer(access)
    )
    assert added.status_code == 201, added.text
    told = await smtp.wait_for_mail(to="alice@example.com", subject="A passkey was added to your account")
    assert '"Tablet <b>" was added' in told.text and credential["id"] not in told.text
    html = told.part("html") or ""
    assert "&ldquo;Tablet &lt;b&gt;&rdquo;" in html and "<b>" not in html

    removed = await client.delete(f"/auth/passkeys/{added.json()['id']}", headers=bearer(access))
    assert removed.status_code == 204
    gone = await smtp.wait_for_mail(to="alice@example.com", subject="A passkey was removed from your account")
    assert '"Tablet <b>" was removed' in gone.text


async def test_a_passkey_removed_by_an_admin_says_so(client: httpx.AsyncClient, smtp: MailServer, app: App) -> None:
    alice = await register(client)
    access = (await login(client))["access_token"]
    options = await client.post(
        "/auth/passkeys/registration-options", json={"password": PASSWORD}, headers=bearer(access)
    )
    credential = SoftAuthenticator().create(options.json()["public_key"], ORIGIN)
    added = await client.post(
        "/auth/passkeys", json={"credential": credential, "name": "Phone"}, headers=bearer(access)
    )
    admin = await make_admin(app)
    removed = await client.delete(f"/users/{alice['id']}/passkeys/{added.json()['id']}", headers=admin)
    assert removed.status_code == 204
    told = await smtp.wait_for_mail(to="alice@example.com", subject="A passkey was removed from your account")
    assert 'An administrator of authgate.test removed the passkey named "Phone"' in told.text
