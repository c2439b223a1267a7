"""A real Flask app and a real FastAPI app protected by the client, against the stand-in authgate: the same
suite runs over both."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from fake_authgate import FakeAuthgate, FakeClock, b64url, jwk
from protected_apps import Answer, Call, serve

Serve = Callable[..., Call]
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


@pytest.fixture(params=["flask", "fastapi"])
def framework(request: pytest.FixtureRequest) -> str:
    framework: str = request.param
    return framework


@pytest.fixture
def protect(framework: str, authgate: FakeAuthgate) -> Iterator[Serve]:
    """protect(**verifier options) -> a call into a fresh protected app of this framework."""
    with ExitStack() as stack:
        yield lambda **options: serve(framework, authgate.verifier(**options), stack)


@pytest.fixture
def app(protect: Serve) -> Call:
    return protect()


def bearer(token: str) -> str:
    return f"Bearer {token}"


def assert_problem(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert set(answer.body) == PROBLEM_FIELDS
    assert (answer.body["status"], answer.body["code"]) == (status, code)
    assert answer.body["type"] == f"urn:authgate:error:{code}"


def assert_invalid_token(answer: Answer) -> None:
    assert_problem(answer, 401, "invalid_token")
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("path", ["/me", "/me/async"])
def test_a_valid_token(app: Call, authgate: FakeAuthgate, path: str) -> None:
    answer = app(path, bearer(authgate.token(roles=["user", "ops"])))
    assert answer.status == 200
    assert answer.body["sub"] == "user-1" and answer.body["sid"] == "session-1"
    assert answer.body["roles"] == ["user", "ops"]


def test_path_parameters_still_reach_the_view(app: Call, authgate: FakeAuthgate) -> None:
    assert app("/items/7", bearer(authgate.token())).body == {"item": 7, "sub": "user-1"}


def test_no_token(app: Call) -> None:
    answer = app("/me", None)
    assert_problem(answer, 401, "missing_token")
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc", "bearer a.b.c"])
def test_not_a_bearer_token(app: Call, header: str) -> None:
    assert_invalid_token(app("/me", header))


def test_the_scheme_is_case_insensitive(app: Call, authgate: FakeAuthgate) -> None:
    assert app("/me", "bEaReR " + authgate.token()).status == 200


def _hs256(authgate: FakeAuthgate) -> str:
    secret = jwk("k", authgate.keys[authgate.current_kid])["x"].encode()
    header = {"alg": "HS256", "typ": "at+jwt", "kid": authgate.current_kid}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(authgate.claims()).encode())
    return signing_input + "." + b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def _alg_none(authgate: FakeAuthgate) -> str:
    header = {"alg": "none", "typ": "at+jwt", "kid": authgate.current_kid}
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(authgate.claims()).encode()) + "."


BAD_TOKENS: dict[str, Callable[[FakeAuthgate], str]] = {
    "expired": lambda a: a.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 3900),
    "not yet valid": lambda a: a.token(nbf=int(time.time()) + 3600),
    "wrong audience": lambda a: a.token(aud="billing"),
    "wrong issuer": lambda a: a.token(iss="https://evil.example.com"),
    "wrong typ": lambda a: a.token(header={"typ": "JWT"}),
    "alg none": _alg_none,
    "HS256 keyed with the public key": _hs256,
    "tampered": lambda a: a.token()[:-4] + "AAAA",
    "garbage": lambda a: "not-a-token",
    "oversize": lambda a: a.token(username="x" * 9000),
}


@pytest.mark.parametrize("make", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_bad_tokens_are_refused(app: Call, authgate: FakeAuthgate, make: Callable[[FakeAuthgate], str]) -> None:
    assert_invalid_token(app("/me", bearer(make(authgate))))


def test_a_rotated_key(protect: Serve, authgate: FakeAuthgate, clock: FakeClock) -> None:
    app = protect(monotonic=clock)
    old = authgate.token()
    assert app("/me", bearer(old)).status == 200
    clock.advance(30)
    authgate.rotate()
    assert app("/me", bearer(authgate.token())).status == 200
    assert app("/me", bearer(old)).status == 200


def test_an_unknown_key(app: Call, authgate: FakeAuthgate) -> None:
    assert app("/me", bearer(authgate.token())).status == 200
    forged = authgate.token(kid=authgate.rotate())
    del authgate.keys[authgate.current_kid]
    assert_invalid_token(app("/me", bearer(forged)))


def test_a_revoked_session_without_introspection_is_accepted_until_expiry(app: Call, authgate: FakeAuthgate) -> None:
    authgate.revoked_sids.add("session-1")
    assert app("/me", bearer(authgate.token())).status == 200


def test_a_revoked_session_with_introspection(protect: Serve, authgate: FakeAuthgate) -> None:
    app = protect(introspect=True, introspection_ttl=0)
    token = authgate.token()
    assert app("/me", bearer(token)).status == 200
    authgate.revoked_sids.add("session-1")
    answer = app("/me", bearer(token))
    assert_invalid_token(answer)
    assert answer.body["detail"] == "the session has ended"


def test_a_missing_role_is_forbidden(app: Call, authgate: FakeAuthgate) -> None:
    answer = app("/admin", bearer(authgate.token(roles=["user"])))
    assert_problem(answer, 403, "forbidden")
    assert "admin" in answer.body["detail"]
    assert app("/admin", bearer(authgate.token(roles=["user", "admin"]))).status == 200


def test_roles_are_checked_after_the_token(app: Call, authgate: FakeAuthgate) -> None:
    assert_invalid_token(app("/admin", bearer(authgate.token(roles=["admin"], aud="billing"))))


def test_authgate_unreachable_is_503_and_tells_no_internals(app: Call, authgate: FakeAuthgate) -> None:
    authgate.down = True
    answer = app("/me", bearer(authgate.token()))
    assert_problem(answer, 503, "authgate_unavailable")
    assert answer.headers["retry-after"].isdigit()
    assert "127.0.0.1" not in json.dumps(answer.body)


def test_error_responses_are_not_cached(app: Call) -> None:
    assert app("/me", None).headers["cache-control"] == "no-store"
