"""Passkeys on the pages, in process, on SQLite and PostgreSQL: the forms the script fills (`web/static/passkeys.js`)
posted as the browser would post them, with the software authenticator's answers. Chromium runs the script
itself in tests/e2e/test_browser_chromium.py."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from authgate.config import Settings
from helpers import PASSWORD, make_settings
from pages_helpers import account_token, form_token, register_form, sign_in
from passkey_helpers import SoftAuthenticator

ORIGIN = "http://authgate.test"  # the in-process client's: its cookies are not Secure

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, issuer=ORIGIN)


async def add_on_the_account_page(client: httpx.AsyncClient, authenticator: SoftAuthenticator, name: str) -> None:
    token = await account_token(client)
    form = {"csrf_token": token, "credential": "", "passkey_password": PASSWORD, "passkey_name": name}
    options = await client.post("/account/passkeys/options", data=form)
    assert options.status_code == 200, options.text
    form |= {
        "credential": json.dumps(authenticator.create(options.json()["public_key"], ORIGIN)),
        "passkey_password": "",
    }
    added = await client.post("/account/passkeys/add", data=form)
    assert added.status_code == 303 and added.headers["location"] == "/account?notice=passkey_added#passkeys"


async def sign_in_with(client: httpx.AsyncClient, authenticator: SoftAuthenticator) -> httpx.Response:
    token = await form_token(client, "/login")
    options = (await client.post("/auth/login/passkey/options")).json()["public_key"]
    credential = json.dumps(authenticator.get(options, ORIGIN))
    return await client.post("/login/passkey", data={"csrf_token": token, "credential": credential, "next": "/account"})


async def test_adding_a_passkey_signing_in_with_it_and_removing_it(client: httpx.AsyncClient) -> None:
    login_page = (await client.get("/login")).text
    assert 'id="passkey-login"' in login_page and "/static/passkeys.js?v=" in login_page
    await register_form(client)
    await sign_in(client)
    account = (await client.get("/account")).text
    assert 'id="passkey-add"' in account and "Passkeys" in account and "synced" not in account

    authenticator = SoftAuthenticator()
    await add_on_the_account_page(client, authenticator, "Work laptop")
    account = (await client.get("/account?notice=passkey_added")).text
    assert "Work laptop" in account and "not used yet" in account and "Your passkey is added" in account

    await client.post("/logout", data={"csrf_token": await account_token(client)})
    client.cookies.clear()
    signed = await sign_in_with(client, authenticator)
    assert signed.status_code == 303 and signed.headers["location"] == "/account", signed.text[:2000]
    account = (await client.get("/account")).text
    assert "Hello, alice" in account and "last used" in account

    passkey_id = re.search(r'name="passkey_id" value="([^"]+)"', account)
    assert passkey_id is not None
    token = await account_token(client)
    removed = await client.post("/account/passkeys/remove", data={"csrf_token": token, "passkey_id": passkey_id[1]})
    assert removed.headers["location"] == "/account?notice=passkey_removed#passkeys"
    again = await client.post("/account/passkeys/remove", data={"csrf_token": token, "passkey_id": passkey_id[1]})
    assert again.headers["location"] == "/account?notice=passkey_gone#passkeys"
    assert "Work laptop" not in (await client.get("/account")).text


async def test_renaming_a_passkey_on_the_account_page(client: httpx.AsyncClient) -> None:
    await register_form(client)
    await sign_in(client)
    await add_on_the_account_page(client, SoftAuthenticator(), "Phone")
    await add_on_the_account_page(client, SoftAuthenticator(), "Laptop")
    account = (await client.get("/account")).text
    ids = re.findall(r'name="passkey_id" value="([^"]+)"', account)[::2]  # each passkey's rename, then remove form
    assert len(ids) == 2 and 'id="passkey_rename-1"' in account and 'id="passkey_rename-2"' in account
    token = await account_token(client)

    renamed = await client.post(
        "/account/passkeys/rename", data={"csrf_token": token, "passkey_id": ids[1], "passkey_rename": " Work laptop "}
    )
    assert renamed.status_code == 303 and renamed.headers["location"] == "/account?notice=passkey_renamed#passkeys"
    account = (await client.get("/account?notice=passkey_renamed")).text
    assert "<strong>Work laptop</strong>" in account and "Your passkey has its new name" in account

    for name, message in (("a\nb", "Must not contain control characters"), ("x" * 65, "Must be at most 64")):
        data = {"csrf_token": token, "passkey_id": ids[0], "passkey_rename": name}
        refused = await client.post("/account/passkeys/rename", data=data)
        assert refused.status_code == 422 and message in refused.text
        opened = re.search(r'<details class="rename" open>.*?name="passkey_id" value="([^"]+)"', refused.text, re.S)
        assert opened is not None and opened[1] == ids[0]  # the form with the mistake is the one left open
    unchanged = (await client.get("/account")).text
    assert "<strong>Phone</strong>" in unchanged

    gone = await client.post(
        "/account/passkeys/rename", data={"csrf_token": token, "passkey_id": "not-an-id", "passkey_rename": "x"}
    )
    assert gone.headers["location"] == "/account?notice=passkey_gone#passkeys"
    forged = await client.post(
        "/account/passkeys/rename", data={"csrf_token": "forged", "passkey_id": ids[0], "passkey_rename": "x"}
    )
    assert forged.status_code == 403


async def test_wrong_answers_come_back_as_messages(client: httpx.AsyncClient) -> None:
    await register_form(client)
    await sign_in(client)
    token = await account_token(client)
    wrong = await client.post(
        "/account/passkeys/options", data={"csrf_token": token, "passkey_password": "not-the-password"}
    )
    assert wrong.status_code == 422 and wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["errors"] == [{"field": "passkey_password", "message": "Is not your current password"}]
    empty = await client.post("/account/passkeys/options", data={"csrf_token": token})
    assert empty.json()["errors"] == [{"field": "passkey_password", "message": "Enter your password"}]
    forged = await client.post("/account/passkeys/options", data={"csrf_token": "forged", "passkey_password": PASSWORD})
    assert forged.status_code == 403

    broken = await client.post("/account/passkeys/add", data={"csrf_token": token, "credential": "{not json"})
    assert broken.status_code == 422 and "Your browser did not make a passkey" in broken.text
    other = SoftAuthenticator().create(
        {
            "challenge": "c" * 43,
            "rp": {"id": "authgate.test", "name": "authgate"},
            "user": {"id": "dQ", "name": "alice"},
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        },
        ORIGIN,
    )
    refused = await client.post("/account/passkeys/add", data={"csrf_token": token, "credential": json.dumps(other)})
    assert refused.status_code == 422 and "was not accepted" in refused.text
    data = {"csrf_token": token, "credential": json.dumps(other), "passkey_name": "a\x00b"}
    named = await client.post("/account/passkeys/add", data=data)
    assert named.status_code == 422 and "Must not contain control characters" in named.text

    client.cookies.clear()
    token = await form_token(client, "/login")
    not_json = await client.post("/login/passkey", data={"csrf_token": token, "credential": "[]"})
    assert not_json.status_code == 422 and "could not sign you in" in not_json.text
    unknown = SoftAuthenticator()
    unknown.create(
        {
            "challenge": "c" * 43,
            "rp": {"id": "authgate.test", "name": "authgate"},
            "user": {"id": "dQ", "name": "mallory"},
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        },
        ORIGIN,
    )
    refused_login = await sign_in_with(client, unknown)
    assert refused_login.status_code == 401 and "could not sign you in" in refused_login.text
    assert "session" not in refused_login.cookies
    no_token = await client.post("/login/passkey", data={"credential": "{}"})
    assert no_token.status_code == 403


async def test_the_passkey_forms_are_absent_when_passkeys_are_off(sqlite_url: str) -> None:
    from authgate.app import create_app
    from pages_helpers import new_client

    app = create_app(make_settings(sqlite_url))  # the issuer is http://127.0.0.1:8080
    await app.startup()
    try:
        async with new_client(app) as client:
            assert "passkey" not in (await client.get("/login")).text
            await register_form(client)
            await sign_in(client)
            account = (await client.get("/account")).text
            assert 'id="passkeys"' not in account and "passkey-add" not in account and "<script" not in account
    finally:
        await app.shutdown()
