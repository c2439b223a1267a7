"""Hostile input: whatever the token text, verification raises `InvalidToken` and nothing else."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fake_authgate import FakeAuthgate, b64url, encode_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authgate.client import InvalidToken, TokenVerifier, verify

ISSUER = "https://auth.example.com"
KEY = Ed25519PrivateKey.generate()
KEYS = {"k1": KEY.public_key()}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
header_like = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["EdDSA", "none", "HS256"]) | json_values,
        "typ": st.sampled_from(["at+jwt", "JWT"]) | json_values,
        "kid": st.sampled_from(["k1", "k2"]) | json_values,
        "jwk": json_values,
    },
)
claims_like = st.fixed_dictionaries(
    {},
    optional={
        name: json_values | st.integers(min_value=-(2**70), max_value=2**70)
        for name in ("iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "roles", "username", "email_verified")
    },
)
segment = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.", max_size=120)
token_like = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.lists(segment, min_size=1, max_size=5).map(".".join),
    st.tuples(header_like, claims_like).map(lambda hc: encode_token(KEY, hc[0], hc[1])),
    claims_like.map(lambda claims: encode_token(KEY, {"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}, claims)),
    st.tuples(header_like, json_values, segment).map(
        lambda t: b64url(json.dumps(t[0]).encode()) + "." + b64url(json.dumps(t[1]).encode()) + "." + t[2]
    ),
)


def _only_invalid_token(check: Any, token: str) -> None:
    with contextlib.suppress(InvalidToken):
        check(token)


@pytest.mark.parametrize("header", [b'{"alg":"\xff"}', b'{"alg":"EdDSA","typ":"at+jwt","kid":"\xed\xa0\x80"}'])
def test_a_header_that_is_not_utf8_is_an_invalid_token(header: bytes) -> None:
    with pytest.raises(InvalidToken):
        verify(f"{b64url(header)}.{b64url(b'{}')}.{b64url(bytes(64))}", KEYS, issuer=ISSUER)


@settings(max_examples=1500, deadline=None)
@given(token_like)
def test_verify_raises_only_invalid_token(token: str) -> None:
    _only_invalid_token(lambda t: verify(t, KEYS, issuer=ISSUER), token)


@pytest.fixture
def loaded_verifier(authgate: FakeAuthgate) -> Iterator[TokenVerifier]:
    with authgate.verifier(refresh_interval=3600, max_key_age=3600) as verifier:
        verifier.verify(authgate.token())
        yield verifier


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=token_like)
def test_a_verifier_with_keys_raises_only_invalid_token(loaded_verifier: TokenVerifier, token: str) -> None:
    _only_invalid_token(loaded_verifier.verify, token)
