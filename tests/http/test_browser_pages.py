"""The browser pages in process: sign-in flow, cookie attributes, fixation, timeouts, `next`, forms, sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from authgate.app import App, create_app
from authgate.domain.browser import hash_cookie
from authgate.services import Services
from helpers import PASSWORD, bearer, login, make_settings, register
from pages_helpers import account_token, csrf_token, form_token, new_client, register_form, sign_in

NEW_PASSWORD = "another Long passphrase 42"


def session_cookie(response: httpx.Response, name: str = "authgate_session") -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            return header
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


async def test_account_needs_a_session_and_login_lands_back(client: httpx.AsyncClient) -> None:
    response = await client.get("/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"
    await register_form(client)
    page = await client.get("/login?next=/account")
    assert 'name="next" value="/account"' in page.text
    signed = await sign_in(client, next_path="/account")
    assert signed.headers["location"] == "/account"
    account = await client.get("/account")
    assert account.status_code == 200
    assert "Hello, alice" in account.text and "alice@example.com" in account.text
    assert (await client.get("/login")).headers["location"] == "/account"  # signed in already
    assert (await client.get("/")).headers["location"] == "/account"


async def test_the_session_cookie_is_opaque_httponly_lax_and_not_secure_in_development(
    client: httpx.AsyncClient,
) -> None:
    await register_form(client)
    cookie = session_cookie(await sign_in(client))
    name_value, *attributes = [part.strip() for part in cookie.split(";")]
    value = name_value.split("=", 1)[1]
    assert len(value) >= 43  # 256 bits of base64url; at least 128 are required
    assert set(attributes) == {"Path=/", "HttpOnly", "SameSite=Lax"}  # no Secure over http://, no Max-Age
    assert "." not in value and "alice" not in value  # opaque: not a token that says whom it is for


async def test_over_https_cookies_are_host_prefixed_and_secure(database_url: str) -> None:
    app = create_app(make_settings(database_url, issuer="https://auth.example.com"))
    await app.startup()
    try:
        async with new_client(app, "https://auth.example.com") as browser:
            form = await browser.get("/login")
            csrf_cookie = session_cookie(form, "__Host-authgate_csrf")
            assert "Secure" in csrf_cookie and "SameSite=Strict" in csrf_cookie and "Path=/" in csrf_cookie
            await register_form(browser)
            signed = await sign_in(browser)
            cookie = session_cookie(signed, "__Host-authgate_session")
            assert {p.strip() for p in cookie.split(";")[1:]} == {"Path=/", "HttpOnly", "Secure", "SameSite=Lax"}
            assert "Domain" not in cookie
            assert (await browser.get("/account")).status_code == 200
    finally:
        await app.shutdown()


async def test_every_login_makes_a_new_session_and_ends_the_old_one(client: httpx.AsyncClient, app: App) -> None:
    await register_form(client)
    client.cookies.set("authgate_session", "A" * 43)  # a value planted before login
    token = await form_token(client)
    form = {"csrf_token": token, "username": "alice", "password": PASSWORD}
    first = session_cookie(await client.post("/login", data=form)).split(";")[0].split("=", 1)[1]
    assert first != "A" * 43
    second = session_cookie(await client.post("/login", data=form)).split(";")[0].split("=", 1)[1]
    assert second != first
    services = app.services
    assert await services.browser.current("A" * 43) is None
    assert await services.browser.current(first) is None  # the previous session ended at the new login
    current = await services.browser.current(second)
    assert current is not None
    sessions = await services.auth.sessions(current)
    assert [s.id for s in sessions] == [current.session.id]
    async with services.db.reader() as r:  # only the hash is stored
        assert await r.browser_sessions.get(hash_cookie(second)) is not None


async def session_id_of(client: httpx.AsyncClient, tokens: dict[str, Any]) -> str:
    """The id of the session an API login started."""
    sessions = (await client.get("/auth/sessions", headers=bearer(tokens["access_token"]))).json()["items"]
    return next(s["id"] for s in sessions if s["current"])


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def clocked(database_url: str) -> AsyncIterator[tuple[App, Clock]]:
    clock = Clock()
    app = create_app(make_settings(database_url, browser_session_idle_timeout=1800, session_ttl=7 * 86400))
    app._services = await Services.start(app.settings, clock=clock)
    yield app, clock
    await app.shutdown()


async def test_idle_and_absolute_timeouts(clocked: tuple[App, Clock]) -> None:
    app, clock = clocked
    async with new_client(app) as browser:
        await register_form(browser)
        await sign_in(browser)
        for _ in range(3):  # each visit within the idle timeout keeps the session going
            clock.now += timedelta(minutes=29)
            assert (await browser.get("/account")).status_code == 200
        clock.now += timedelta(minutes=31)
        assert (await browser.get("/account")).status_code == 303  # idle too long: signed out
        async with app.services.db.reader() as r:
            user = await r.users.get_by_login("alice")
            assert user is not None
            assert await r.sessions.list_for_user(user.id, clock.now) == []  # and the session has ended

        await sign_in(browser)
        for _ in range(7 * 2 - 1):  # active every 12 hours: never idle, but the session ends 7 days after login
            clock.now += timedelta(hours=12)
            app.services.browser.idle_timeout = timedelta(days=1)
            assert (await browser.get("/account")).status_code == 200
        clock.now += timedelta(hours=12, seconds=1)
        assert (await browser.get("/account")).status_code == 303


async def test_idle_browser_sessions_leave_the_list(clocked: tuple[App, Clock]) -> None:
    app, clock = clocked
    async with new_client(app) as laptop, new_client(app) as desk:
        await register_form(laptop)
        await sign_in(laptop)
        await sign_in(desk)
        clock.now += timedelta(minutes=20)
        page = await desk.get("/account")
        assert page.text.count('action="/account/sessions/end"') == 2
        clock.now += timedelta(minutes=20)  # the laptop has been idle 40 minutes: it is signed out
        page = await desk.get("/account")
        assert page.text.count('action="/account/sessions/end"') == 1 and "this browser" in page.text


async def test_last_used_is_written_at_most_once_a_minute(clocked: tuple[App, Clock]) -> None:
    app, clock = clocked
    async with new_client(app) as browser:
        await register_form(browser)
        cookie = session_cookie(await sign_in(browser)).split(";")[0].split("=", 1)[1]
        start = clock.now
        clock.now += timedelta(seconds=30)
        principal = await app.services.browser.current(cookie)
        assert principal is not None and principal.session.last_used_at == start
        clock.now += timedelta(seconds=31)
        principal = await app.services.browser.current(cookie)
        assert principal is not None and principal.session.last_used_at == clock.now


@pytest.mark.parametrize(
    "hostile",
    [
        "//evil.example",
        "//evil.example/account",
        "https://evil.example",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/%0a/evil",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
async def test_login_ignores_a_next_that_leaves_the_site(client: httpx.AsyncClient, hostile: str) -> None:
    await register(client)
    signed = await sign_in(client, next_path=hostile)
    location = signed.headers["location"]
    assert location == ("/%0a/evil" if hostile == "/%0a/evil" else "/account")  # %0a stays encoded: a path here


async def test_login_form_errors_keep_the_username_never_the_password(client: httpx.AsyncClient) -> None:
    await register(client)
    token = await form_token(client)
    wrong = await client.post(
        "/login", data={"csrf_token": token, "username": "alice", "password": "not-the-password-xyz"}
    )
    assert wrong.status_code == 422
    assert "Wrong username or password." in wrong.text
    assert 'value="alice"' in wrong.text and "not-the-password-xyz" not in wrong.text
    empty = await client.post("/login", data={"csrf_token": token, "username": "", "password": ""})
    assert empty.status_code == 422
    assert 'id="username-error">Enter your username or email address<' in empty.text
    assert 'id="password-error">Enter your password<' in empty.text
    assert "authgate_session" not in str(wrong.headers.get_list("set-cookie"))


async def test_registration_errors_sit_next_to_their_fields_and_user_input_is_escaped(
    client: httpx.AsyncClient,
) -> None:
    token = await form_token(client, "/register")
    hostile_name = "<script>alert(1)</script>"
    hostile_email = '"><img src=x onerror=alert(1)>'
    response = await client.post(
        "/register",
        data={
            "csrf_token": token,
            "username": hostile_name,
            "email": hostile_email,
            "password": "short",
            "password_confirm": "short",
        },
    )
    assert response.status_code == 422
    html = response.text
    assert hostile_name not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'id="username-error">May contain only letters' in html
    assert 'id="email-error">' in html
    assert 'id="password-error">Must be at least 8 characters<' in html
    assert "short" not in html  # the password is never sent back
    mismatch = await client.post(
        "/register",
        data={
            "csrf_token": token,
            "username": "bob",
            "email": "bob@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD + "x",
        },
    )
    assert mismatch.status_code == 422 and 'id="password_confirm-error">Does not match' in mismatch.text
    assert 'value="bob"' in mismatch.text and 'value="bob@example.com"' in mismatch.text
    await register_form(client, "bob")
    taken = await client.post(
        "/register",
        data={
            "csrf_token": token,
            "username": "BOB",
            "email": "other@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert taken.status_code == 422 and 'id="username-error">This username is taken<' in taken.text


async def test_registration_lands_on_sign_in_with_a_notice(client: httpx.AsyncClient) -> None:
    token = await form_token(client, "/register?next=/account")
    response = await client.post(
        "/register",
        data={
            "csrf_token": token,
            "username": "alice",
            "email": "alice@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "next": "/account",
        },
    )
    assert response.headers["location"] == "/login?notice=registered&next=/account"
    page = await client.get(response.headers["location"])
    assert "Your account is ready" in page.text and 'name="next" value="/account"' in page.text


async def test_closed_registration_says_so(database_url: str) -> None:
    app = create_app(make_settings(database_url, registration_open=False))
    await app.startup()
    try:
        async with new_client(app) as browser:
            page = await browser.get("/register")
            assert "Registration is closed" in page.text and 'action="/register"' not in page.text
            refused = await browser.post(
                "/register",
                data={
                    "csrf_token": csrf_token((await browser.get("/login")).text),
                    "username": "alice",
                    "email": "alice@example.com",
                    "password": PASSWORD,
                    "password_confirm": PASSWORD,
                },
            )
            assert refused.status_code == 403 and "Registration is closed" in refused.text
    finally:
        await app.shutdown()


async def test_account_lists_sessions_and_signs_out_another_one(client: httpx.AsyncClient, app: App) -> None:
    await register_form(client)
    await sign_in(client)
    api = await login(client)  # a second session, from the API
    api_session = await session_id_of(client, api)
    page = await client.get("/account")
    assert page.text.count('action="/account/sessions/end"') == 2
    assert "this browser" in page.text
    ended = await client.post(
        "/account/sessions/end", data={"csrf_token": csrf_token(page.text), "session_id": api_session}
    )
    assert ended.headers["location"] == "/account?notice=session_ended"
    assert (await client.get("/auth/me", headers=bearer(api["access_token"]))).status_code == 401
    again = await client.post(
        "/account/sessions/end", data={"csrf_token": csrf_token(page.text), "session_id": api_session}
    )
    assert again.headers["location"] == "/account?notice=session_gone"
    page = await client.get("/account?notice=session_ended")
    assert "That session is signed out." in page.text
    assert page.text.count('action="/account/sessions/end"') == 1


async def test_someone_elses_session_cannot_be_ended(client: httpx.AsyncClient, app: App) -> None:
    await register(client, "mallory")
    victim = await login(client, "mallory")
    await register_form(client)
    await sign_in(client)
    response = await client.post(
        "/account/sessions/end",
        data={"csrf_token": await account_token(client), "session_id": await session_id_of(client, victim)},
    )
    assert response.headers["location"] == "/account?notice=session_gone"
    assert (await client.get("/auth/me", headers=bearer(victim["access_token"]))).status_code == 200


async def test_sign_out_everywhere(client: httpx.AsyncClient) -> None:
    await register_form(client)
    await sign_in(client)
    api = await login(client)
    response = await client.post("/account/sessions/end-all", data={"csrf_token": await account_token(client)})
    assert response.headers["location"] == "/login?notice=signed_out_everywhere"
    assert "Max-Age=0" in session_cookie(response)
    assert (await client.get("/auth/me", headers=bearer(api["access_token"]))).status_code == 401
    assert (await client.get("/account")).status_code == 303


async def test_change_password(client: httpx.AsyncClient) -> None:
    await register_form(client)
    await sign_in(client)
    api = await login(client)
    token = await account_token(client)
    wrong = await client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": "not my password",
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 422
    assert 'id="current_password-error">Is not your current password<' in wrong.text
    assert NEW_PASSWORD not in wrong.text and "not my password" not in wrong.text
    mismatch = await client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert mismatch.status_code == 422 and 'id="new_password_confirm-error">' in mismatch.text
    changed = await client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    )
    assert changed.headers["location"] == "/account?notice=password_changed"
    assert (await client.get("/account")).status_code == 200  # this browser stays signed in
    assert (await client.get("/auth/me", headers=bearer(api["access_token"]))).status_code == 401  # others end
    await login(client, "alice", NEW_PASSWORD)


async def test_logout_ends_the_session_on_the_server(client: httpx.AsyncClient) -> None:
    await register_form(client)
    cookie = session_cookie(await sign_in(client)).split(";")[0]
    response = await client.post("/logout", data={"csrf_token": await account_token(client)})
    assert response.headers["location"] == "/login?notice=signed_out"
    assert "Max-Age=0" in session_cookie(response)
    name, value = cookie.split("=", 1)
    async with new_client(client._transport.app) as elsewhere:  # type: ignore[attr-defined]
        elsewhere.cookies.set(name, value)  # a copy of the cookie, kept elsewhere
        assert (await elsewhere.get("/account")).status_code == 303
    page = await client.get("/login?notice=signed_out")
    assert "You are signed out." in page.text


async def test_logout_without_a_session_just_goes_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.post("/logout", data={})
    assert response.status_code == 303 and response.headers["location"] == "/login?notice=signed_out"


async def test_page_errors_are_html(client: httpx.AsyncClient) -> None:
    token = await form_token(client)
    as_json = await client.post("/login", json={"csrf_token": token, "username": "a", "password": "b"})
    assert as_json.status_code == 415 and as_json.headers["content-type"].startswith("text/html")
    big = await client.post(
        "/login", content=b"a=" + b"x" * 70_000, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert big.status_code == 413 and "request" in big.text


async def test_static_files_are_cached_long_with_their_type(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    href = page.text.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    assert href.startswith("/static/authgate.css?v=")
    css = await client.get(href)
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert css.headers["x-content-type-options"] == "nosniff"
    assert (await client.get(href, headers={"if-none-match": css.headers["etag"]})).status_code == 304
    icon = await client.get("/static/favicon.svg")
    assert icon.headers["content-type"] == "image/svg+xml" and b"<script" not in icon.content
    for missing in ["nope.css", "docs", "..%2Fpyproject.toml", "index.html"]:
        assert (await client.get(f"/static/{missing}")).status_code == 404


async def test_a_disabled_user_is_signed_out(client: httpx.AsyncClient, app: App) -> None:
    await register_form(client)
    await sign_in(client)
    async with app.services.db.transaction() as tx:
        user = await tx.users.get_by_login("alice")
        assert user is not None
        user.disabled = True
        await tx.users.update(user)
    assert (await client.get("/account")).status_code == 303


async def test_delete_my_account(client: httpx.AsyncClient) -> None:
    await register_form(client)
    await sign_in(client)
    api = await login(client)
    token = await account_token(client)
    page = await client.get("/account")
    assert 'action="/account/delete"' in page.text and 'name="delete_code"' not in page.text  # no code without 2FA
    wrong = await client.post("/account/delete", data={"csrf_token": token, "delete_password": "not my password"})
    assert wrong.status_code == 422 and 'id="delete_password-error">Is not your current password<' in wrong.text
    assert "not my password" not in wrong.text
    empty = await client.post("/account/delete", data={"csrf_token": token})
    assert empty.status_code == 422 and 'id="delete_password-error">Enter your password<' in empty.text
    forged = await client.post("/account/delete", data={"csrf_token": "forged", "delete_password": PASSWORD})
    assert forged.status_code == 403
    assert (await client.get("/auth/me", headers=bearer(api["access_token"]))).status_code == 200  # all refused
    deleted = await client.post("/account/delete", data={"csrf_token": token, "delete_password": PASSWORD})
    assert deleted.headers["location"] == "/login?notice=account_deleted"
    assert "Max-Age=0" in session_cookie(deleted)
    assert "Your account is deleted." in (await client.get(deleted.headers["location"])).text
    assert (await client.get("/account")).status_code == 303
    assert (await client.get("/auth/me", headers=bearer(api["access_token"]))).status_code == 401
    refused = await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert refused.status_code == 401
