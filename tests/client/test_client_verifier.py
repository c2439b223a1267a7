"""TokenVerifier over real HTTP against the stand-in authgate: discovery, key rotation, the refetch rate limit,
introspection, and authgate being down."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from fake_authgate import FakeAuthgate, FakeClock

from authgate.client import AuthgateUnavailable, ExpiredToken, InvalidToken, RevokedToken, TokenVerifier, UnknownKey

JWKS = "GET /.well-known/jwks.json"
DISCOVERY = "GET /.well-known/openid-configuration"
INTROSPECT = "POST /auth/introspect"


def test_discovery_and_keys_are_fetched_once(authgate: FakeAuthgate) -> None:
    with authgate.verifier() as verifier:
        for _ in range(20):
            assert verifier.verify(authgate.token()).sub == "user-1"
    assert authgate.requests == {DISCOVERY: 1, JWKS: 1}


def test_a_given_jwks_uri_skips_discovery(authgate: FakeAuthgate) -> None:
    with authgate.verifier(jwks_uri=authgate.url + "/.well-known/jwks.json") as verifier:
        verifier.verify(authgate.token())
    assert authgate.requests == {JWKS: 1}


def test_async_verification(authgate: FakeAuthgate) -> None:
    async def main(verifier: TokenVerifier) -> list[str]:
        tokens = [authgate.token(sub=f"user-{n}") for n in range(10)]
        return [claims.sub for claims in await asyncio.gather(*(verifier.averify(t) for t in tokens))]

    with authgate.verifier(introspect=True) as verifier:
        assert asyncio.run(main(verifier)) == [f"user-{n}" for n in range(10)]
        with pytest.raises(ExpiredToken):
            asyncio.run(verifier.averify(authgate.token(exp=1)))


def test_a_rotated_key_is_picked_up_and_the_old_one_still_verifies(authgate: FakeAuthgate, clock: FakeClock) -> None:
    with authgate.verifier(monotonic=clock) as verifier:
        old = authgate.token()
        verifier.verify(old)
        clock.advance(30)
        authgate.rotate()
        assert verifier.verify(authgate.token()).sub == "user-1"
        assert verifier.verify(old).sub == "user-1"
    assert authgate.requests[JWKS] == 2


def test_unknown_kids_cannot_make_it_hammer_authgate(authgate: FakeAuthgate, clock: FakeClock) -> None:
    with authgate.verifier(refresh_interval=30, monotonic=clock) as verifier:
        verifier.verify(authgate.token())
        clock.advance(30)
        for _ in range(50):
            forged = authgate.token(kid=authgate.rotate())
            del authgate.keys[authgate.current_kid]
            authgate.current_kid = next(iter(authgate.keys))
            with pytest.raises(UnknownKey):
                verifier.verify(forged)
        assert authgate.requests[JWKS] == 2
        rotated = authgate.rotate()
        with pytest.raises(UnknownKey):  # still inside the interval
            verifier.verify(authgate.token())
        clock.advance(30)
        assert verifier.verify(authgate.token(kid=rotated)).sub == "user-1"
    assert authgate.requests[JWKS] == 3


def test_malformed_tokens_cause_no_fetch(authgate: FakeAuthgate) -> None:
    with authgate.verifier() as verifier:
        for raw in ["", "a.b.c", "x" * 10_000, authgate.token(header={"alg": "none"})]:
            with pytest.raises(InvalidToken):
                verifier.verify(raw)
    assert authgate.requests == {}


def test_authgate_down_at_first_use_is_unavailable_not_invalid(authgate: FakeAuthgate) -> None:
    authgate.down = True
    with authgate.verifier() as verifier:
        with pytest.raises(AuthgateUnavailable):
            verifier.verify(authgate.token())
        with pytest.raises(AuthgateUnavailable):  # rate-limited: answered without asking again
            verifier.verify(authgate.token())
    assert authgate.requests == {DISCOVERY: 1}


def test_authgate_unreachable(clock: FakeClock) -> None:
    with TokenVerifier("http://127.0.0.1:9", monotonic=clock) as verifier, pytest.raises(AuthgateUnavailable):
        verifier.verify(FakeAuthgate().token())


def test_authgate_down_later_keeps_the_keys(authgate: FakeAuthgate, clock: FakeClock) -> None:
    with authgate.verifier(monotonic=clock) as verifier:
        verifier.verify(authgate.token())
        authgate.down = True
        clock.advance(3600)
        assert verifier.verify(authgate.token()).sub == "user-1"


def test_the_discovery_document_must_name_the_configured_issuer(authgate: FakeAuthgate) -> None:
    authgate.discovery_overrides = {"issuer": "https://evil.example.com"}
    with authgate.verifier() as verifier, pytest.raises(AuthgateUnavailable):
        verifier.verify(authgate.token())


def test_without_introspection_a_revoked_session_is_accepted_until_expiry(authgate: FakeAuthgate) -> None:
    authgate.revoked_sids.add("session-1")
    with authgate.verifier() as verifier:
        assert verifier.verify(authgate.token()).sid == "session-1"
        with pytest.raises(ExpiredToken):
            verifier.verify(authgate.token(exp=int(time.time()) - 60))
    assert INTROSPECT not in authgate.requests


def test_with_introspection_a_revoked_session_is_refused(authgate: FakeAuthgate) -> None:
    with authgate.verifier(introspect=True) as verifier:
        assert verifier.verify(authgate.token()).sid == "session-1"
        authgate.revoked_sids.add("session-1")
        with pytest.raises(RevokedToken):
            verifier.verify(authgate.token())
        assert verifier.verify(authgate.token(sid="session-2")).sid == "session-2"


def test_introspection_answers_are_cached_for_the_ttl(authgate: FakeAuthgate, clock: FakeClock) -> None:
    with authgate.verifier(introspect=True, introspection_ttl=2, monotonic=clock) as verifier:
        token = authgate.token()
        verifier.verify(token)
        authgate.revoked_sids.add("session-1")
        verifier.verify(token)
        assert authgate.requests[INTROSPECT] == 1
        clock.advance(2)
        with pytest.raises(RevokedToken):
            verifier.verify(token)
        with pytest.raises(RevokedToken):
            verifier.verify(token)
    assert authgate.requests[INTROSPECT] == 2


def test_a_zero_ttl_asks_every_time(authgate: FakeAuthgate) -> None:
    with authgate.verifier(introspect=True, introspection_ttl=0) as verifier:
        token = authgate.token()
        for _ in range(3):
            verifier.verify(token)
    assert authgate.requests[INTROSPECT] == 3


def test_introspection_only_after_local_verification(authgate: FakeAuthgate) -> None:
    with authgate.verifier(introspect=True) as verifier, pytest.raises(InvalidToken):
        verifier.verify(authgate.token(aud="billing"))
    assert INTROSPECT not in authgate.requests


def test_introspection_fails_closed(authgate: FakeAuthgate) -> None:
    with authgate.verifier(introspect=True) as verifier:
        verifier.verify(authgate.token())
        authgate.down = True
        with pytest.raises(AuthgateUnavailable):
            verifier.verify(authgate.token(jti=uuid.uuid4().hex))


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="issuer"):
        TokenVerifier("auth.example.com")
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier("https://auth.example.com", leeway=-1)
    with pytest.raises(ValueError, match="ttl"):
        TokenVerifier("https://auth.example.com", introspect=True, introspection_ttl=-1)
