"""Access tokens: what we sign, what we accept, and the verified-token cache."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest

from authgate.domain.keys import Keyring, generate_key
from authgate.domain.tokens import AccessTokens, UnknownKey
from authgate.errors import InvalidAccessToken

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeTime:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


def make_tokens(clock: FakeTime, keys: list | None = None) -> AccessTokens:  # type: ignore[type-arg]
    ring = Keyring(keys or [generate_key(NOW, None)], None, 900, NOW)
    return AccessTokens("https://id.example", "authgate", 900, ring, clock)


def issue(tokens: AccessTokens) -> str:
    return tokens.issue(user_id="u1", session_id="s1", roles=("user",), username="alice", email_verified=False)


def test_round_trip_and_standard_library_agrees() -> None:
    clock = FakeTime()
    tokens = make_tokens(clock)
    token = issue(tokens)
    claims = tokens.verify(token)
    assert (claims.sub, claims.sid, claims.roles, claims.exp - claims.iat) == ("u1", "s1", ("user",), 900)
    decoded = jwt.decode(
        token,
        tokens.keyring.private_key.public_key(),
        algorithms=["EdDSA"],
        audience="authgate",
        issuer="https://id.example",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert decoded["username"] == "alice"
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": "at+jwt", "kid": tokens.keyring.kid}


def test_expiry_applies_to_cached_tokens_too() -> None:
    clock = FakeTime()
    tokens = make_tokens(clock)
    token = issue(tokens)
    tokens.verify(token)  # now cached
    clock.now += 900 + 10
    with pytest.raises(InvalidAccessToken):
        tokens.verify(token)
    with pytest.raises(InvalidAccessToken):
        tokens.verify(token)


def test_cache_is_bounded() -> None:
    clock = FakeTime()
    tokens = make_tokens(clock)
    tokens._cache_size = 5
    for _ in range(20):
        tokens.verify(issue(tokens))
    assert len(tokens._cache) == 5


def test_unknown_key_is_distinguished() -> None:
    clock = FakeTime()
    other = make_tokens(clock)
    tokens = make_tokens(clock)
    with pytest.raises(UnknownKey):
        tokens.verify(issue(other))


def test_rotated_keyring_still_verifies_old_tokens() -> None:
    clock = FakeTime()
    old = generate_key(NOW, None)
    tokens = make_tokens(clock, [old])
    token = issue(tokens)
    new = generate_key(NOW.replace(second=1), None)
    old.retired_at = NOW
    tokens.use_keyring(Keyring([old, new], None, 900, NOW))
    assert tokens.keyring.kid == new.kid
    tokens._cache.clear()
    assert tokens.verify(token).sub == "u1"
    assert jwt.get_unverified_header(issue(tokens))["kid"] == new.kid


@pytest.mark.parametrize(
    "token",
    ["", ".", "..", "a.b.c", "a.b", "a.b.c.d", "é.é.é", "x" * 9000, "eyJ9.eyJ9.AAAA", "====.====.===="],
)
def test_garbage_is_invalid(token: str) -> None:
    with pytest.raises(InvalidAccessToken):
        make_tokens(FakeTime()).verify(token)
