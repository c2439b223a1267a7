"""Two-step sign-in through the browser pages, in process: the code form after the password, its errors, and the
session cookie only once the code is right."""

from __future__ import annotations

import re

import httpx
import pytest
from test_mfa import code, enable

from helpers import PASSWORD, login, register
from pages_helpers import csrf_token, form_token

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
