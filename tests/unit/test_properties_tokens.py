"""Properties of access-token verification (domain/tokens.py) on input nobody wrote by hand.

Whatever the string, `verify` returns the claims of a token this key ring signed, or raises InvalidAccessToken
(UnknownKey is one); a token changed in any way, by one character or by re-encoding a segment, is refused: a
token has exactly one spelling, as authgate.client also demands. Claims signed with our own key but of any
shape are refused unless they are the claims of an access token.

These run in the quick suite: a few hundred examples of microseconds each (one Ed25519 check per example).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from authgate.domain.keys import Keyring, generate_key
from authgate.domain.tokens import AccessClaims, AccessTokens
from authgate.errors import InvalidAccessToken

QUICK = settings(max_examples=300, deadline=None)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
NOW = time.time()
_KEY = generate_key(datetime.now(UTC), None)
KEYRING = Keyring([_KEY], None, 900, datetime.now(UTC))
ISSUER, AUDIENCE = "https://auth.example.test", "authgate"


def tokens() -> AccessTokens:
    """A fresh verifier (its cache empty) over the one key ring."""
    return AccessTokens(ISSUER, AUDIENCE, 900, KEYRING, lambda: NOW)


REAL = tokens().issue(
    user_id="0190a0a0-0000-7000-8000-000000000001",
    session_id="0190a0a0-0000-7000-8000-000000000002",
    roles=("user",),
    username="alice",
    email_verified=True,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _only_refused(token: str) -> None:
    with pytest.raises(InvalidAccessToken):
        tokens().verify(token)


def test_the_real_token_verifies() -> None:
    claims = tokens().verify(REAL)
    assert (claims.username, claims.roles, claims.iss) == ("alice", ("user",), ISSUER)


@QUICK
@given(st.text(max_size=300))
@example("")
@example("..")
@example("a.b.c")
@example("\x00.\x00.\x00")
@example("é" * 9000)
def test_any_text_is_refused(text: str) -> None:
    _only_refused(text)


@QUICK
@given(st.lists(st.text(alphabet=B64URL + "=+/.", max_size=120), min_size=1, max_size=5).map(".".join))
def test_text_that_looks_like_a_jwt_is_refused(text: str) -> None:
    _only_refused(text)


@st.composite
def one_edit(draw: st.DrawFn) -> str:
    """The real token with one character replaced, inserted or deleted."""
    at = draw(st.integers(0, len(REAL) - 1))
    char = draw(st.sampled_from(B64URL + ".=+/ \x00é"))
    edit = draw(st.sampled_from(["replace", "insert", "delete"]))
    if edit == "insert":
        return REAL[:at] + char + REAL[at:]
    if edit == "delete":
        return REAL[:at] + REAL[at + 1 :]
    return REAL[:at] + char + REAL[at + 1 :]


@QUICK
@given(one_edit())
def test_one_edit_to_a_real_token_is_refused(token: str) -> None:
    if token == REAL:  # a replacement by the same character
        return
    _only_refused(token)


@pytest.mark.parametrize("segment", [0, 1, 2])
def test_another_spelling_of_a_segment_is_refused(segment: int) -> None:
    """The last character of a base64url segment carries unused bits, and padding may be added: each gives
    the same bytes from another string. Only the one spelling that we wrote is accepted."""
    parts = REAL.split(".")
    spellings = [parts[segment] + "=", parts[segment] + "=="]
    spellings += [parts[segment][:-1] + c for c in B64URL if c != parts[segment][-1]]
    for spelling in spellings:
        _only_refused(".".join([*parts[:segment], spelling, *parts[segment + 1 :]]))


@QUICK
@given(st.permutations(REAL.split(".")), st.integers(1, 3))
def test_segments_reordered_or_repeated_are_refused(parts: list[str], repeat: int) -> None:
    token = ".".join(parts * repeat)
    if token == REAL:
        return
    _only_refused(token)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
REAL_CLAIMS: dict[str, Any] = json.loads(base64.urlsafe_b64decode(REAL.split(".")[1] + "=="))


def _signed(header: Any, claims: Any) -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    return signing_input + "." + _b64(KEYRING.private_key.sign(signing_input.encode()))


@QUICK
@given(st.sampled_from(sorted(REAL_CLAIMS)), JSON)
def test_signed_by_us_with_any_value_in_a_claim(name: str, value: Any) -> None:
    """Our own signature over claims of another shape: the claims of an access token, or refused."""
    claims = {**REAL_CLAIMS, name: value}
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": KEYRING.kid}
    try:
        verified = tokens().verify(_signed(header, claims))
    except InvalidAccessToken:
        return
    assert isinstance(verified, AccessClaims)
    assert verified.iss == ISSUER and verified.aud == AUDIENCE and verified.exp + 5 > NOW


@QUICK
@given(st.dictionaries(st.sampled_from(["alg", "typ", "kid", "jku", "crit", "x5u"]), JSON, max_size=5))
def test_signed_by_us_with_any_header(header: dict[str, Any]) -> None:
    token = _signed(header, REAL_CLAIMS)
    if header == {"alg": "EdDSA", "typ": "at+jwt", "kid": KEYRING.kid}:
        assert tokens().verify(token).sub == REAL_CLAIMS["sub"]
        return
    _only_refused(token)


@QUICK
@given(st.text(max_size=40), st.lists(st.text(max_size=10), max_size=4), st.booleans())
def test_what_is_issued_verifies_to_itself(username: str, roles: list[str], verified: bool) -> None:
    issuer = tokens()
    token = issuer.issue(user_id="u", session_id="s", roles=tuple(roles), username=username, email_verified=verified)
    claims = tokens().verify(token)
    assert (claims.username, claims.roles, claims.email_verified) == (username, tuple(roles), verified)
    assert issuer.verify(token) == claims  # and again, from the cache of the verifier that issued it
