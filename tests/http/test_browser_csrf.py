"""CSRF on every state-changing form (login CSRF included): a POST without a valid token answers 403 and changes
nothing. Also the origin checks, and the security headers of every page."""

from __future__ import annotations

import re

import httpx
import pytest

from authgate.app import App
from authgate.domain.users import login_key
from helpers import PASSWORD, bearer, login, register
from pages_helpers import PAGE_CSP, account_token, form_token, new_client, register_form, sign_in

NEW_PASSWORD = "another Long passphrase 42"


async def _sessions(app: App, username: str = "alice") -> int:
    async with app.services.db.reader() as r:
        user = await r.users.get_by_login(login_key(username))
        assert user is not None
        return len(await r.sessions.list_for_user(user.id, app.services.auth.clock()))


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text[:2000]
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "The form has expired or is not genuine" in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("token", [None, "", "forged-token-000000000", "wrong"])
async def test_login_without_a_valid_token_is_refused_and_signs_nobody_in(
    client: httpx.AsyncClient, app: App, token: str | None
) -> None:
    await register(client)
    await client.get("/login")  # the browser has its CSRF cookie
    data = {"username": "alice", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    _refused(await client.post("/login", data=data))
    assert await _sessions(app) == 0


async def test_login_csrf_a_token_from_another_browser_does_not_fit_this_one(
    client: httpx.AsyncClient, app: App
) -> None:
    """The attacker's own (cookie, token) pair is of no use in the victim's browser, which has its own cookie."""
    await register(client, "attacker")
    attackers_token = await form_token(client)
    async with new_client(app) as victim:
        await victim.get("/login")
        response = await victim.post(
            "/login", data={"csrf_token": attackers_token, "username": "attacker", "password": PASSWORD}
        )
        _refused(response)
    async with new_client(app) as fresh:  # no CSRF cookie at all
        no_cookie = await fresh.post(
            "/login", data={"csrf_token": attackers_token, "username": "attacker", "password": PASSWORD}
        )
        _refused(no_cookie)
    assert await _sessions(app, "attacker") == 0


async def test_register_without_a_valid_token_is_refused_and_creates_nobody(
    client: httpx.AsyncClient, app: App
) -> None:
    await client.get("/register")
    data = {"username": "bob", "email": "bob@example.com", "password": PASSWORD, "password_confirm": PASSWORD}
    _refused(await client.post("/register", data=data))
    _refused(await client.post("/register", data={**data, "csrf_token": "x" * 22}))
    async with app.services.db.reader() as r:
        assert await r.users.get_by_login("bob") is None


async def test_signed_in_forms_need_the_session_token(client: httpx.AsyncClient, app: App) -> None:
    await register_form(client)
    pre_session_token = await form_token(client, "/login")  # valid for the login form, not for these
    await sign_in(client)
    api = await login(client)
    for token in [None, "", pre_session_token]:
        data = {} if token is None else {"csrf_token": token}
        _refused(
            await client.post(
                "/account/password",
                data={
                    **data,
                    "current_password": PASSWORD,
                    "new_password": NEW_PASSWORD,
                    "new_password_confirm": NEW_PASSWORD,
                },
            )
        )
        _refused(await client.post("/account/sessions/end-all", data=data))
        sessions = (await client.get("/auth/sessions", headers=bearer(api["access_token"]))).json()["items"]
        _refused(await client.post("/account/sessions/end", data={**data, "session_id": sessions[0]["id"]}))
        _refused(await client.post("/logout", data=data))
    assert await _sessions(app) == 2  # nothing ended
    assert (await client.get("/account")).status_code == 200  # still signed in
    await login(client, "alice", PASSWORD)  # the password did not change


async def test_a_token_of_another_session_does_not_fit(client: httpx.AsyncClient, app: App) -> None:
    await register_form(client)
    await sign_in(client)
    old_token = await account_token(client)
    await client.post("/logout", data={"csrf_token": old_token})
    await sign_in(client)
    _refused(await client.post("/account/sessions/end-all", data={"csrf_token": old_token}))
    assert await _sessions(app) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"origin": "http://authgate.test.evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "http://authgate.test", "sec-fetch-site": "cross-site"},
    ],
)
async def test_a_form_posted_from_elsewhere_is_refused_even_with_a_valid_token(
    client: httpx.AsyncClient, app: App, headers: dict[str, str]
) -> None:
    await register(client)
    token = await form_token(client)
    data = {"csrf_token": token, "username": "alice", "password": PASSWORD}
    _refused(await client.post("/login", data=data, headers=headers))
    assert await _sessions(app) == 0
    await sign_in(client)
    _refused(
        await client.post(
            "/account/sessions/end-all", data={"csrf_token": await account_token(client)}, headers=headers
        )
    )
    _refused(await client.post("/logout", data={"csrf_token": await account_token(client)}, headers=headers))
    assert await _sessions(app) == 1


SIGNED_IN_FORMS = [
    "/account/password",
    "/account/sessions/end",
    "/account/sessions/end-all",
    "/account/delete",
    "/account/passkeys/add",
    "/account/passkeys/rename",
    "/account/passkeys/remove",
    "/account/mfa/setup",
    "/account/mfa/confirm",
    "/account/mfa/recovery-codes",
    "/account/mfa/disable",
]


@pytest.mark.parametrize("path", SIGNED_IN_FORMS)
async def test_a_signed_in_form_sends_a_signed_out_browser_to_sign_in(client: httpx.AsyncClient, path: str) -> None:
    """The seed's `@login_required` (`signed_in_page`): no session is a redirect to the sign-in page, and a form
    from another site is refused before that."""
    await register(client)
    response = await client.post(path, data={"csrf_token": "anything", "delete_password": PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/account"
    assert "set-cookie" not in response.headers
    _refused(await client.post(path, data={}, headers={"origin": "https://evil.example"}))
    await login(client, "alice", PASSWORD)  # nothing changed: the account is there, with its password


async def test_a_browser_posting_from_this_site_passes(client: httpx.AsyncClient) -> None:
    await register(client)
    token = await form_token(client)
    same = {"origin": "http://authgate.test", "sec-fetch-site": "same-origin"}
    response = await client.post(
        "/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD}, headers=same
    )
    assert response.status_code == 303


async def test_security_headers_on_every_page(client: httpx.AsyncClient) -> None:
    await register_form(client)
    responses = [
        await client.get("/login"),
        await client.get("/register"),
        await client.get("/account"),  # 303 to /login
        await client.post("/login", data={}),  # 403 page
        await client.get("/login?notice=signed_out"),
    ]
    await sign_in(client)
    responses += [await client.get("/account"), await client.get("/")]
    for response in responses:
        headers = response.headers
        assert headers["content-security-policy"] == PAGE_CSP, response.url
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"
        assert len(headers.get_list("referrer-policy")) == 1
    account = responses[-2].text
    assert "style=" not in account and "onclick" not in account  # nothing inline
    scripts = re.findall(r"<script[^>]*>", account)
    assert all(re.fullmatch(r'<script src="/static/[a-z]+\.js\?v=[0-9a-f]{12}" defer>', tag) for tag in scripts)
    api = await client.get("/ping")
    assert "content-security-policy" not in api.headers
    assert api.headers["referrer-policy"] == "no-referrer" and api.headers["x-content-type-options"] == "nosniff"


async def test_security_headers_on_problem_responses_too(client: httpx.AsyncClient) -> None:
    """An error becomes a problem response in `recover`, outside the handler: it gets the API's headers as well."""
    problems = [
        await client.get("/nowhere"),  # 404
        await client.delete("/ping"),  # 405
        await client.get("/auth/me"),  # 401
        await client.post("/auth/login", content=b"{", headers={"content-type": "application/json"}),  # 400
    ]
    for response in problems:
        assert response.headers["content-type"] == "application/problem+json", response.url
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert len(response.headers.get_list("x-content-type-options")) == 1
