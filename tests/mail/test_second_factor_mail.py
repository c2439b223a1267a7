"""Two-step sign in turned on, off (by the user or an admin) or given new recovery codes: the user is told by
mail, over a real SMTP server, with no secret in the mail."""

from __future__ import annotations

import httpx

from abuse_helpers import make_admin
from authgate.app import App
from helpers import PASSWORD, bearer, login, register
from mailserver import MailServer, settings_fixture, smtp_fixture  # noqa: F401 (fixtures)
from mfa_helpers import code, enable


async def test_each_change_is_told_to_the_user(app: App, client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    secret, codes = await enable(client, access)
    on = await smtp.wait_for_mail(to="alice@example.com", subject="Two-step sign in is on")
    assert "authenticator app" in on.text and secret not in on.text and not any(c in on.text for c in codes)

    body = {"password": PASSWORD, "code": codes[0]}
    assert (await client.post("/auth/mfa/recovery-codes", json=body, headers=bearer(access))).status_code == 200
    await smtp.wait_for_mail(to="alice@example.com", subject="New recovery codes were made")

    body = {"password": PASSWORD, "code": code(secret, 1)}
    assert (await client.post("/auth/mfa/disable", json=body, headers=bearer(access))).status_code == 204
    off = await smtp.wait_for_mail(to="alice@example.com", subject="Two-step sign in was turned off")
    assert "administrator" not in off.text

    await enable(client, access)
    admin = await make_admin(app)
    me = (await client.get("/auth/me", headers=bearer(access))).json()
    assert (await client.delete(f"/users/{me['id']}/mfa", headers=admin)).status_code == 204
    reset = await smtp.wait_for_mail(to="alice@example.com", subject="Two-step sign in was turned off", count=2)
    assert "An administrator" in reset.text
