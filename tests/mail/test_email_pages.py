"""The browser pages the mails' links open (/forgot-password, /reset-password, /verify-email,
/confirm-email-change), over a real SMTP server: a GET never uses a token, the form's POST does (with CSRF)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from authgate.app import App
from helpers import PASSWORD, bearer, login, register
from mailserver import (  # noqa: F401 (fixtures)
    CONFIRM,
    RESET,
    VERIFY,
    MailServer,
    link_of,
    settings_fixture,
    smtp_fixture,
)
from pages_helpers import account_token, csrf_token, form_token, register_form, sign_in

NEW_PASSWORD = "a-brand-new-passphrase-42"


def local(url: str) -> str:
    """The path and query of a link in a mail (the test client talks to the app, not to the issuer)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_forgot_then_reset_through_the_pages(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client, "alice")
    login_page = await client.get("/login")
    assert 'href="/forgot-password"' in login_page.text
    token = await form_token(client, "/forgot-password")
    sent = await client.post("/forgot-password", data={"csrf_token": token, "email": "alice@example.com"})
    assert sent.status_code == 200 and "we have mailed it a link" in sent.text
    unknown = await client.post("/forgot-password", data={"csrf_token": token, "email": "nobody@example.com"})
    assert unknown.status_code == 200 and "we have mailed it a link" in unknown.text

    mail = await smtp.wait_for_mail(to="alice@example.com", subject=RESET)
    page_url, _ = link_of(mail)
    url = local(f"{page_url}?token={link_of(mail)[1]}")
    page = await client.get(url)
    assert page.status_code == 200 and 'name="new_password"' in page.text
    assert page.headers["content-type"].startswith("text/html")
    form_csrf = csrf_token(page.text)
    hidden = re.search(r'name="token" value="([^"]+)"', page.text)
    assert hidden is not None and hidden[1] == link_of(mail)[1]

    data = {"csrf_token": form_csrf, "token": hidden[1], "new_password": NEW_PASSWORD}
    mismatch = await client.post("/reset-password", data={**data, "new_password_confirm": "something-else-1"})
    assert mismatch.status_code == 422 and "Does not match" in mismatch.text
    weak = await client.post(
        "/reset-password", data={**data, "new_password": "password", "new_password_confirm": "password"}
    )
    assert weak.status_code == 422 and "too common" in weak.text
    done = await client.post("/reset-password", data={**data, "new_password_confirm": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=password_reset"
    notice = await client.get(done.headers["location"])
    assert "every session is signed out" in notice.text
    await sign_in(client, "alice", NEW_PASSWORD)

    used = await client.get(url)
    assert used.status_code == 400 and "This link is not valid" in used.text
    again = await client.post("/reset-password", data={**data, "new_password_confirm": NEW_PASSWORD})
    assert again.status_code == 400 and "This link is not valid" in again.text


async def test_the_forms_need_their_csrf_token(client: httpx.AsyncClient, smtp: MailServer, app: App) -> None:
    await register(client, "alice")
    for path, data in [
        ("/forgot-password", {"email": "alice@example.com"}),
        ("/reset-password", {"token": "x" * 43, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}),
        ("/verify-email", {"token": "x" * 43}),
        ("/confirm-email-change", {"token": "x" * 43}),
    ]:
        await client.get("/login")  # the browser has its CSRF cookie
        refused = await client.post(path, data={**data, "csrf_token": "forged"})
        assert refused.status_code == 403 and "The form has expired" in refused.text, path
        missing = await client.post(path, data=data)
        assert missing.status_code == 403, path
    await app.services.mail.idle()
    assert smtp.to("alice@example.com", RESET) == []


async def test_bad_links_say_so(client: httpx.AsyncClient) -> None:
    for path in ("/reset-password", "/verify-email", "/confirm-email-change"):
        for query in ("", "?token=", "?token=" + "x" * 43, "?token=" + "%00" * 300):
            page = await client.get(path + query)
            assert page.status_code == 400, (path, query)
            assert "This link is not valid" in page.text
    token = await form_token(client, "/forgot-password")
    empty = await client.post("/forgot-password", data={"csrf_token": token, "email": ""})
    assert empty.status_code == 422 and "Enter your email address" in empty.text
    bad = await client.post("/forgot-password", data={"csrf_token": token, "email": "not-an-address"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text


async def test_verify_through_the_page_and_a_prefetch_changes_nothing(
    client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await register(client, "alice")
    access = bearer((await login(client, "alice"))["access_token"])
    page_url, token = link_of(await smtp.wait_for_mail(to="alice@example.com", subject=VERIFY))
    url = local(f"{page_url}?token={token}")
    for _ in range(2):  # a mail scanner's prefetch, then the person
        page = await client.get(url)
        assert page.status_code == 200 and "Verify my email address" in page.text
    assert (await client.get("/auth/me", headers=access)).json()["email_verified"] is False
    done = await client.post("/verify-email", data={"csrf_token": csrf_token(page.text), "token": token})
    assert done.status_code == 200 and "Your email address is verified" in done.text
    assert (await client.get("/auth/me", headers=access)).json()["email_verified"] is True
    again = await client.post("/verify-email", data={"csrf_token": csrf_token(page.text), "token": token})
    assert again.status_code == 400


async def test_confirm_an_email_change_through_the_page(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register(client, "alice")
    access = bearer((await login(client, "alice"))["access_token"])
    body = {"email": "alice@new.example", "current_password": PASSWORD}
    assert (await client.patch("/auth/me", json=body, headers=access)).status_code == 202
    page_url, token = link_of(await smtp.wait_for_mail(to="alice@new.example", subject=CONFIRM))
    page = await client.get(local(f"{page_url}?token={token}"))
    assert page.status_code == 200 and "Confirm my new address" in page.text
    assert (await client.get("/auth/me", headers=access)).json()["email"] == "alice@example.com"
    done = await client.post("/confirm-email-change", data={"csrf_token": csrf_token(page.text), "token": token})
    assert done.status_code == 200 and "Your email address is changed" in done.text
    assert (await client.get("/auth/me", headers=access)).json()["email"] == "alice@new.example"


async def test_registering_through_the_page_mails_the_verification_link(
    app: App, client: httpx.AsyncClient, smtp: MailServer
) -> None:
    await register_form(client, "carol")
    mail = await smtp.wait_for_mail(to="carol@example.com", subject=VERIFY)
    assert link_of(mail)[0].endswith("/verify-email")
    # An admin's account gets none (nor does an import): the admin tells the user.
    await app.services.admin.create("dave", "dave@example.com", PASSWORD)
    await app.services.mail.idle()
    assert smtp.to("dave@example.com") == []


async def test_the_account_page_mails_the_link_again(client: httpx.AsyncClient, smtp: MailServer) -> None:
    await register_form(client, "carol")
    await smtp.wait_for_mail(to="carol@example.com", subject=VERIFY)
    anonymous = await client.post("/account/verify-email", data={"csrf_token": "x"})
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    await sign_in(client, "carol")
    account = await client.get("/account")
    assert "Mail me the link again" in account.text
    forged = await client.post("/account/verify-email", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    sent = await client.post("/account/verify-email", data={"csrf_token": await account_token(client)})
    assert sent.status_code == 303 and sent.headers["location"] == "/account?notice=verification_sent"
    second = await smtp.wait_for_mail(to="carol@example.com", subject=VERIFY, count=2)
    page = await client.get(local(f"{link_of(second)[0]}?token={link_of(second)[1]}"))
    done = await client.post("/verify-email", data={"csrf_token": csrf_token(page.text), "token": link_of(second)[1]})
    assert done.status_code == 200
    assert "Mail me the link again" not in (await client.get("/account")).text
