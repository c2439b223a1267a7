"""Two-step sign-in through the browser pages, in process: the code form after the password, its errors, and the
session cookie only once the code is right."""

from __future__ import annotations

import re

import httpx
import pytest

from helpers import PASSWORD, login, register
from mfa_helpers import code, enable
from pages_helpers import account_token, csrf_token, form_token, sign_in

pytestmark = pytest.mark.usefixtures("app")

_MFA_TOKEN = re.compile(r'name="mfa_token" value="([^"]+)"')


async def password_step(client: httpx.AsyncClient, next_path: str | None = None) -> httpx.Response:
    data = {"csrf_token": await form_token(client), "username": "alice", "password": PASSWORD}
    if next_path:
        data["next"] = next_path
    return await client.post("/login", data=data)


def code_form(page: httpx.Response) -> dict[str, str]:
    match = _MFA_TOKEN.search(page.text)
    assert match, page.text[:2000]
    return {"csrf_token": csrf_token(page.text), "mfa_token": match[1]}


async def test_the_code_comes_after_the_password_and_before_the_cookie(client: httpx.AsyncClient) -> None:
    await register(client)
    secret, _ = await enable(client, (await login(client))["access_token"])
    page = await password_step(client, next_path="/account")
    assert page.status_code == 200, page.text[:2000]
    assert "Enter your code" in page.text and 'autocomplete="one-time-code"' in page.text
    assert not [c for c in page.headers.get_list("set-cookie") if c.startswith("authgate_session=")]
    assert (await client.get("/account")).status_code == 303  # not signed in yet

    form = code_form(page)
    wrong = await client.post("/login/mfa", data={**form, "code": "abcde-abcde", "next": "/account"})
    assert wrong.status_code == 422 and "That code is not valid" in wrong.text
    empty = await client.post("/login/mfa", data={**form, "code": "  "})
    assert empty.status_code == 422 and "Enter the code" in empty.text

    signed = await client.post("/login/mfa", data={**code_form(wrong), "code": code(secret, 1), "next": "/account"})
    assert signed.status_code == 303, signed.text[:2000]
    assert signed.headers["location"] == "/account"
    assert [c for c in signed.headers.get_list("set-cookie") if c.startswith("authgate_session=")]
    account = await client.get("/account")
    assert account.status_code == 200 and "Hello, alice" in account.text


async def test_a_bad_or_missing_mfa_token_starts_again(client: httpx.AsyncClient) -> None:
    await register(client)
    await enable(client, (await login(client))["access_token"])
    form = code_form(await password_step(client))
    forged = await client.post("/login/mfa", data={**form, "mfa_token": "forged", "code": "123456", "next": "/account"})
    assert forged.status_code == 303
    assert forged.headers["location"] == "/login?notice=mfa_expired&next=/account"
    missing = await client.post("/login/mfa", data={"csrf_token": form["csrf_token"], "code": "123456"})
    assert missing.headers["location"] == "/login?notice=mfa_expired"
    assert "took too long" in (await client.get(missing.headers["location"])).text


async def test_the_code_form_needs_its_csrf_token(client: httpx.AsyncClient) -> None:
    await register(client)
    secret, _ = await enable(client, (await login(client))["access_token"])
    form = code_form(await password_step(client))
    response = await client.post("/login/mfa", data={"mfa_token": form["mfa_token"], "code": code(secret, 1)})
    assert response.status_code == 403
    assert not [c for c in response.headers.get_list("set-cookie") if c.startswith("authgate_session=")]


_SECRET = re.compile(r'<code id="secret">([A-Z2-7 ]+)</code>')
_CODES = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


async def set_up_in_the_browser(client: httpx.AsyncClient) -> tuple[str, list[str]]:
    """From the account page: the setup key shown, and the recovery codes once a code turned it on."""
    await sign_in(client)
    token = await account_token(client)
    setup = await client.post("/account/mfa/setup", data={"csrf_token": token, "setup_password": PASSWORD})
    assert setup.status_code == 200, setup.text[:3000]
    assert "<svg" in setup.text and "segno" in setup.text  # the QR code, inline
    match = _SECRET.search(setup.text)
    assert match, setup.text[:3000]
    secret = match[1].replace(" ", "")
    wrong = await client.post("/account/mfa/confirm", data={"csrf_token": token, "code": "abc"})
    assert wrong.status_code == 422 and "not the code your app shows" in wrong.text
    assert secret in wrong.text.replace(" ", "")  # the same key again, to try once more
    confirmed = await client.post("/account/mfa/confirm", data={"csrf_token": token, "code": code(secret)})
    assert confirmed.status_code == 200, confirmed.text[:3000]
    codes = _CODES.findall(confirmed.text)
    assert len(codes) == 10 and "Two-step sign in is on" in confirmed.text
    return secret, codes


async def test_setting_it_up_renewing_and_turning_it_off_from_the_account_page(client: httpx.AsyncClient) -> None:
    await register(client)
    secret, codes = await set_up_in_the_browser(client)
    account = await client.get("/account")
    assert "10 recovery codes left" in account.text and "Turn off two-step sign in" in account.text
    token = csrf_token(account.text)

    missing = await client.post("/account/mfa/recovery-codes", data={"csrf_token": token, "renew_password": PASSWORD})
    assert missing.status_code == 422 and "Enter a code" in missing.text
    renewed = await client.post(
        "/account/mfa/recovery-codes", data={"csrf_token": token, "renew_password": PASSWORD, "renew_code": codes[0]}
    )
    assert renewed.status_code == 200 and "your old codes no longer work" in renewed.text
    new_codes = _CODES.findall(renewed.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)

    wrong = await client.post(
        "/account/mfa/disable",
        data={"csrf_token": token, "disable_password": "not-the-password", "disable_code": code(secret, 1)},
    )
    assert wrong.status_code == 422 and "is not your current password" in wrong.text.lower()
    off = await client.post(
        "/account/mfa/disable",
        data={"csrf_token": token, "disable_password": PASSWORD, "disable_code": code(secret, 1)},
    )
    assert off.status_code == 303 and off.headers["location"] == "/account?notice=mfa_disabled"
    account = await client.get(off.headers["location"])
    assert "Two-step sign in is off" in account.text and "Set up two-step sign in" in account.text


async def test_the_account_page_forms_need_their_csrf_token(client: httpx.AsyncClient) -> None:
    await register(client)
    await sign_in(client)
    for path, data in [
        ("/account/mfa/setup", {"setup_password": PASSWORD}),
        ("/account/mfa/confirm", {"code": "123456"}),
        ("/account/mfa/disable", {"disable_password": PASSWORD, "disable_code": "123456"}),
        ("/account/mfa/recovery-codes", {"renew_password": PASSWORD, "renew_code": "123456"}),
    ]:
        assert (await client.post(path, data=data)).status_code == 403, path
    assert (await client.get("/account")).text.count('<span class="badge">off</span>') == 1


async def test_deleting_an_account_with_two_step_sign_in_takes_a_code(client: httpx.AsyncClient) -> None:
    await register(client)
    secret, recovery_codes = await enable(client, (await login(client))["access_token"])
    signed = await client.post("/login/mfa", data={**code_form(await password_step(client)), "code": code(secret, 1)})
    assert signed.status_code == 303
    page = await client.get("/account")
    assert 'name="delete_code"' in page.text
    token = csrf_token(page.text)
    missing = await client.post("/account/delete", data={"csrf_token": token, "delete_password": PASSWORD})
    assert missing.status_code == 422 and 'id="delete_code-error">Is required: two-step sign in is on<' in missing.text
    # This step's code was used to sign in, so a recovery code.
    data = {"csrf_token": token, "delete_password": PASSWORD, "delete_code": recovery_codes[0]}
    deleted = await client.post("/account/delete", data=data)
    assert deleted.headers["location"] == "/login?notice=account_deleted"
