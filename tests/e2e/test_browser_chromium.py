"""A real Chromium signs up, signs in, signs another session out and signs out, against the real server.

`authgate serve` runs in a subprocess (one worker, SQLite in a temporary folder, a fast hash). Playwright
drives Debian's Chromium (`/usr/bin/chromium`, installed by scripts/test-deps.sh; Playwright's own browser
download cannot work here), headless, with a fresh profile per context. A screenshot of each page is saved
in test-output/screenshots/ (desktop, and a phone for the account page) for a person to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liveserver import LiveServer, live_server

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PASSWORD = "a browser's passphrase 7"
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36",
}


def _need(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing, and CI must run the browser test (scripts/test-deps.sh installs it)")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def playwright_api() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the playwright package")
    if not Path(CHROMIUM).exists():
        _need(CHROMIUM)
    with sync_playwright() as p:
        yield p


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    env = {"AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/authgate.db", "AUTHGATE_LOG_LEVEL": "warning"}
    with live_server(env, tmp_path) as running:
        yield running


@pytest.fixture
def browser(playwright_api: Any) -> Iterator[Any]:
    chromium = playwright_api.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _watch_console(page: Any, problems: list[str]) -> None:
    """Collect what the browser complains about: a CSP violation, a failed load, a script error (but not the
    422 of a form sent back with its mistakes, which Chromium reports as a failed load)."""

    def on_console(message: Any) -> None:
        if message.type == "error" and "status of 422" not in message.text:
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))


def _sign_in(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/account")
    page.wait_for_url(re.compile(r"/login\?next=/account$"))
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/account")


def test_sign_up_sign_in_sign_out_another_session_and_sign_out(server: LiveServer, browser: Any) -> None:
    url = server.url
    problems: list[str] = []
    desktop = browser.new_context(viewport={"width": 1280, "height": 860})
    page = desktop.new_page()
    _watch_console(page, problems)

    # Not signed in: /account sends the browser to sign in, and back after.
    page.goto(f"{url}/account")
    page.wait_for_url(f"{url}/login?next=/account")
    assert page.get_by_role("heading", name="Sign in").is_visible()
    _shot(page, "01-login")

    # Register, first with a mistake: the message sits next to its field, what was typed stays (not passwords).
    page.get_by_role("link", name="Create one").click()
    page.wait_for_url(f"{url}/register?next=/account")
    _shot(page, "02-register")
    page.get_by_label("Username").fill("grace")
    page.get_by_label("Email address").fill("grace@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD + "?")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_selector("#password_confirm-error")
    assert page.locator("#password_confirm-error").inner_text() == "Does not match the password"
    assert page.get_by_label("Username").input_value() == "grace"
    assert page.get_by_label("Password", exact=True).input_value() == ""
    _shot(page, "03-register-errors")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{url}/login?notice=registered&next=/account")
    assert "Your account is ready" in page.locator(".notice").inner_text()
    _shot(page, "04-registered")

    # Sign in: back on /account.
    page.get_by_label("Username or email").fill("grace")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/account")
    assert page.get_by_role("heading", name="Hello, grace").is_visible()
    cookie = next(c for c in desktop.cookies() if c["name"] == "authgate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and len(cookie["value"]) >= 43
    _shot(page, "05-account")

    # A second browser (a phone) signs in too.
    phone = browser.new_context(**PHONE)
    phone_page = phone.new_page()
    _watch_console(phone_page, problems)
    _sign_in(phone_page, url, "grace")
    _shot(phone_page, "06-account-phone")

    # The first browser sees both sessions and signs the phone out.
    page.reload()
    sessions = page.locator(".sessions li")
    assert sessions.count() == 2
    other = sessions.filter(has_not=page.locator(".badge.ok"))
    assert "Chrome on Android" in other.inner_text()
    other.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{url}/account?notice=session_ended")
    assert page.locator(".sessions li").count() == 1
    assert "That session is signed out." in page.locator(".notice").inner_text()
    _shot(page, "07-other-session-signed-out")

    # The phone is signed out: its next page view asks it to sign in.
    phone_page.reload()
    phone_page.wait_for_url(f"{url}/login?next=/account")
    _shot(phone_page, "08-phone-signed-out")
    phone.close()

    # Sign out; /account then redirects to the sign-in page.
    page.locator("header").get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{url}/login?notice=signed_out")
    assert "You are signed out." in page.locator(".notice").inner_text()
    _shot(page, "09-signed-out")
    assert not any(c["name"] == "authgate_session" for c in desktop.cookies())
    page.goto(f"{url}/account")
    page.wait_for_url(f"{url}/login?next=/account")

    # A wrong password: the message is shown, the username kept.
    page.get_by_label("Username or email").fill("grace")
    page.get_by_label("Password").fill("not the passphrase")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector(".alert")
    assert page.locator(".alert").inner_text() == "Wrong username or password."
    assert page.get_by_label("Username or email").input_value() == "grace"
    _shot(page, "10-login-wrong-password")
    desktop.close()

    assert problems == [], problems  # no CSP violation, nothing failed to load
    assert "Traceback" not in server.output()


def test_the_pages_on_a_phone(server: LiveServer, browser: Any) -> None:
    """The forms fit a phone's width: nothing wider than the screen."""
    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    for path, name in [("/login", "11-login-phone"), ("/register", "12-register-phone")]:
        page.goto(server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["viewport"]["width"], (path, width)
        _shot(page, name)
    phone.close()


def _code(secret: str, steps_ahead: int = 0) -> str:
    import time

    import pyotp

    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(time.time()) + steps_ahead)


def test_two_step_sign_in_set_up_and_used(server: LiveServer, browser: Any) -> None:
    """Set up an authenticator from the account page (the QR code is drawn), turn it on with a code, then sign in
    with the password and a code; on a phone, the setup page fits the screen."""
    import httpx

    url = server.url
    registered = httpx.post(
        f"{url}/auth/register", json={"username": "ada", "email": "ada@example.com", "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    problems: list[str] = []
    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    _watch_console(page, problems)
    _sign_in(page, url, "ada")

    page.get_by_role("region", name="Two-step sign in").get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Set up two-step sign in").click()
    page.wait_for_url(f"{url}/account/mfa/setup")
    qr = page.locator(".qr svg")
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 150 and box["width"] == box["height"], box
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"], width
    secret = page.locator("#secret").inner_text().replace(" ", "")
    _shot(page, "13-mfa-setup-phone")

    page.get_by_label("Six-digit code").fill(_code(secret))
    page.get_by_role("button", name="Turn on two-step sign in").click()
    page.wait_for_url(f"{url}/account/mfa/confirm")
    codes = page.locator(".codes code").all_inner_texts()
    assert len(codes) == 10
    _shot(page, "14-mfa-recovery-codes-phone")
    page.get_by_role("link", name=re.compile("I have saved them")).click()
    page.wait_for_url(f"{url}/account")
    assert "10 recovery codes left" in page.locator("#two-step").locator("..").inner_text()

    # Sign out, and in again: the password, then a code.
    page.locator("header").get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{url}/login?notice=signed_out")
    page.get_by_label("Username or email").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("text=Enter your code")
    assert not any(c["name"] == "authgate_session" for c in phone.cookies())
    _shot(page, "15-mfa-code-phone")
    page.get_by_label("Code from your authenticator app").fill(_code(secret, 1))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/account")
    assert page.get_by_role("heading", name="Hello, ada").is_visible()

    # Delete the account: the password and (two-step sign in is on) a recovery code; this phone is signed out.
    deletion = page.get_by_role("region", name="Delete account")
    deletion.get_by_label("Password").fill(PASSWORD)
    deletion.get_by_label("Code from your app, or a recovery code").fill(codes[0])
    deletion.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(f"{url}/login?notice=account_deleted")
    assert "Your account is deleted" in page.locator(".notice").inner_text()
    assert not any(c["name"] == "authgate_session" and c["value"] for c in phone.cookies())
    phone.close()

    assert problems == [], problems  # no CSP violation (the QR code is inline SVG), nothing failed to load
    assert "Traceback" not in server.output()


def test_a_passkey_added_and_used_to_sign_in(tmp_path: Path, browser: Any) -> None:
    """Add a passkey from the account page (a virtual authenticator made through the DevTools protocol answers
    Chromium's WebAuthn calls), sign in with it and nothing typed, remove it: the authenticator still offers it,
    and the server refuses it. A wrong password in the add form shows the server's message and adds nothing."""
    # Browsers refuse passkeys for an IP address: the issuer, and the address browsed, are http://localhost:PORT.
    env = {"AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/authgate.db", "AUTHGATE_LOG_LEVEL": "warning"}
    with live_server(env, tmp_path, host="localhost") as server:
        url = server.url
        problems: list[str] = []
        desktop = browser.new_context(viewport={"width": 1280, "height": 860})
        page = desktop.new_page()
        _watch_console(page, problems)
        cdp = desktop.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        authenticator = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )["authenticatorId"]

        def held() -> list[dict[str, Any]]:
            answer = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
            credentials: list[dict[str, Any]] = answer["credentials"]
            return credentials

        # Register and sign in with the password.
        page.goto(f"{url}/account")
        page.wait_for_url(f"{url}/login?next=/account")
        assert page.get_by_role("button", name="Sign in with a passkey").is_visible()  # the script unhid it
        page.get_by_role("link", name="Create one").click()
        page.wait_for_url(f"{url}/register?next=/account")
        page.get_by_label("Username").fill("lin")
        page.get_by_label("Email address").fill("lin@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Repeat the password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(f"{url}/login?notice=registered&next=/account")
        page.get_by_label("Username or email").fill("lin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(f"{url}/account")

        # A wrong password: the server's message in the form's alert, no passkey made or added.
        section = page.get_by_role("region", name="Passkeys")
        form = section.locator("#passkey-add")
        error = form.locator(".passkey-error")
        assert form.is_visible() and error.is_hidden()
        section.get_by_label("Password").fill("not the passphrase")
        section.get_by_label("Name").fill("This laptop")
        section.get_by_role("button", name="Add a passkey").click()
        error.wait_for(state="visible")
        assert error.inner_text() == "Is not your current password"
        password = section.get_by_label("Password")
        assert password.get_attribute("aria-invalid") == "true" and password.input_value() == ""
        assert page.url == f"{url}/account"
        assert section.locator("ul.sessions li").count() == 0
        assert section.get_by_role("button", name="Add a passkey").is_enabled()
        assert held() == []

        # The right password: the virtual authenticator makes the passkey, the form posts it, the page lists it.
        section.get_by_label("Password").fill(PASSWORD)
        section.get_by_label("Name").fill("This laptop")
        section.get_by_role("button", name="Add a passkey").click()
        page.wait_for_url(f"{url}/account?notice=passkey_added#passkeys")
        assert "Your passkey is added" in page.locator(".notice").inner_text()
        listed = section.locator("ul.sessions li")
        assert listed.count() == 1
        assert listed.locator("strong").inner_text() == "This laptop"
        assert "not used yet" in listed.inner_text()
        assert error.is_hidden()
        assert section.get_by_label("Password").input_value() == ""
        _shot(page, "16-account-passkey")

        credentials = held()
        assert len(credentials) == 1, credentials
        assert credentials[0]["isResidentCredential"] is True
        assert credentials[0]["rpId"] == "localhost"

        # Sign out, and in with the passkey: no username, no password.
        page.locator("header").get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{url}/login?notice=signed_out")
        _shot(page, "17-login-passkey")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url(f"{url}/account")
        assert page.get_by_role("heading", name="Hello, lin").is_visible()
        assert any(c["name"] == "authgate_session" for c in desktop.cookies())
        listed = page.get_by_role("region", name="Passkeys").locator("ul.sessions li")
        assert "last used" in listed.inner_text()
        assert held()[0]["signCount"] >= 1

        # Remove it: the authenticator still offers it, the server no longer knows it.
        page.get_by_role("button", name="Remove the passkey This laptop").click()
        page.wait_for_url(f"{url}/account?notice=passkey_removed#passkeys")
        assert page.locator(".notice").inner_text() == "That passkey no longer signs you in."
        assert page.get_by_role("region", name="Passkeys").locator("ul.sessions li").count() == 0
        page.locator("header").get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{url}/login?notice=signed_out")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url(f"{url}/login/passkey")
        assert page.get_by_role("heading", name="Sign in").is_visible()
        assert "Your passkey could not sign you in" in page.get_by_role("alert").inner_text()
        assert len(held()) == 1
        assert not any(c["name"] == "authgate_session" and c["value"] for c in desktop.cookies())
        page.goto(f"{url}/account")
        page.wait_for_url(f"{url}/login?next=/account")
        desktop.close()

        # The refused passkey's page comes with a 401, which Chromium reports as a failed load.
        assert [p for p in problems if "status of 401" not in p] == [], problems
        assert "Traceback" not in server.output()
