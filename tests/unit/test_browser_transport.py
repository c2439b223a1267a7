"""The pieces of browser sign-in that need no server: `next` validation, cookies, CSRF tokens, device names."""

from __future__ import annotations

import pytest

from authgate.http import csrf
from authgate.http.cookies import CookieTransport, cookie_value
from authgate.http.redirects import login_url, safe_next
from authgate.http.templates import device

HOSTILE_NEXT = [
    "//evil.example",
    "///evil.example",
    "//evil.example/account",
    "/\\evil.example",
    "/\\/evil.example",
    "\\evil.example",
    "/account\\..\\..\\evil",
    "https://evil.example",
    "http://evil.example/account",
    "https:evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "account",
    "",
    " /account",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/\x00/evil.example",
    "/\x7f",
    "/ /evil.example",
    "/\u3000/evil.example",
    "/\uff0f\uff0fevil.example",
    "/a" * 600,
]


@pytest.mark.parametrize("value", HOSTILE_NEXT)
def test_next_that_could_leave_the_site_is_ignored(value: str) -> None:
    assert safe_next(value) is None


@pytest.mark.parametrize("value", ["/account", "/account?tab=sessions", "/", "/a/b/c#x", "/%2F%2Fevil.example"])
def test_next_on_this_site_is_kept(value: str) -> None:
    assert safe_next(value) == value


def test_login_url() -> None:
    assert login_url() == "/login"
    assert login_url("/account") == "/login?next=/account"
    assert login_url("/account?a=1&b=2", "registered") == "/login?notice=registered&next=/account%3Fa%3D1%26b%3D2"


def test_cookie_values_are_read_by_exact_name() -> None:
    header = "other=1; xauthgate_session=bad; authgate_session=good; authgate_session=second"
    assert cookie_value(header, "authgate_session") == "good"
    assert cookie_value("authgate_session=a, theme=dark", "authgate_session") == "a"  # joined headers
    assert cookie_value("authgate_session=", "authgate_session") is None
    assert cookie_value("authgate_session=" + "x" * 300, "authgate_session") is None
    assert cookie_value(None, "authgate_session") is None
    assert cookie_value("__Host-authgate_session=v", "authgate_session") is None


def test_cookie_attributes_follow_the_scheme() -> None:
    secure, plain = CookieTransport(secure=True), CookieTransport(secure=False)
    assert secure.set_session("v") == (
        "set-cookie",
        "__Host-authgate_session=v; Path=/; HttpOnly; Secure; SameSite=Lax",
    )
    assert plain.set_session("v") == ("set-cookie", "authgate_session=v; Path=/; HttpOnly; SameSite=Lax")
    assert plain.clear_session()[1].endswith("Max-Age=0")
    assert secure.set_csrf_nonce("n")[1] == "__Host-authgate_csrf=n; Path=/; HttpOnly; Secure; SameSite=Strict"


def test_csrf_tokens_are_bound_to_what_they_protect() -> None:
    secret, other = b"s" * 32, b"t" * 32
    token = csrf.session_token(secret, "session-1")
    assert len(token) == 22  # 128 bits
    assert token != csrf.session_token(secret, "session-2")
    assert token != csrf.session_token(other, "session-1")
    assert csrf.nonce_token(secret, "session-1") != token  # a login token is never a session token
    csrf.verify(token, token)
    for presented in [None, "", token[:-1], csrf.session_token(secret, "session-2"), "é" * 22]:
        with pytest.raises(csrf.CsrfFailed):
            csrf.verify(token, presented)
    with pytest.raises(csrf.CsrfFailed):
        csrf.verify(None, token)


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36",
            "Chrome on Linux",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Safari/604.1",
            "Safari on iPhone",
        ),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0", "Firefox on Windows"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/140.0 Safari/537.36 Edg/140.0",
            "Edge on Windows",
        ),
        ("curl/8.5.0", "curl/8.5.0"),
        ("", "Unknown device"),
    ],
)
def test_device_names(agent: str, name: str) -> None:
    assert device(agent) == name
