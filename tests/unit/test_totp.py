"""TOTP codes against RFC 6238's test vectors, the allowed drift and replays, recovery codes, and the signed
`mfa_token` between a login's two steps."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from authgate.domain.mfa import MfaChallenges
from authgate.domain.totp import (
    RECOVERY_ALPHABET,
    could_be_recovery_code,
    new_recovery_codes,
    recovery_code_digest,
    totp_step,
)
from authgate.domain.users import User
from authgate.errors import InvalidMfaToken

RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890", RFC 6238 appendix B (SHA-1)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize(
    ("seconds", "code"),
    [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"), (2000000000, "279037")],
)
def test_rfc_6238_vectors(seconds: int, code: str) -> None:
    """The last six digits of the RFC's eight-digit SHA-1 codes."""
    assert totp_step(code, RFC_SECRET, at(seconds), after=0) == seconds // 30


def test_one_step_of_drift_either_side_and_no_more() -> None:
    now = 1111111109
    code = "081804"  # the code of step now // 30
    assert totp_step(code, RFC_SECRET, at(now + 30), after=0) == now // 30
    assert totp_step(code, RFC_SECRET, at(now - 30), after=0) == now // 30
    assert totp_step(code, RFC_SECRET, at(now + 60), after=0) is None
    assert totp_step(code, RFC_SECRET, at(now - 60), after=0) is None


def test_a_step_used_already_is_refused() -> None:
    step = 1111111109 // 30
    assert totp_step("081804", RFC_SECRET, at(1111111109), after=step - 1) == step
    assert totp_step("081804", RFC_SECRET, at(1111111109), after=step) is None


@pytest.mark.parametrize(
    "typed", ["", "08180", "0818044", "08 1804", "\uff10\uff18\uff11\uff18\uff10\uff14", "abcdef", "-81804"]
)
def test_anything_but_six_ascii_digits_is_no_code(typed: str) -> None:
    assert totp_step(typed, RFC_SECRET, at(1111111109), after=0) is None


def test_recovery_codes_are_random_readable_and_typed_any_way() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert len(code) == 11 and code[5] == "-"
        assert set(code.replace("-", "")) <= set(RECOVERY_ALPHABET)
        assert could_be_recovery_code(code)
        typed = " " + code.upper().replace("-", " ") + " "
        assert could_be_recovery_code(typed) and recovery_code_digest(typed) == recovery_code_digest(code)
    assert not could_be_recovery_code("123456") and not could_be_recovery_code("abcde-abcd0")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"


def user(password_hash: str = HASH) -> User:
    return User(
        id="0190b5a8-0000-7000-8000-000000000001",
        username="alice",
        email="alice@example.com",
        password_hash=password_hash,
        roles=(),
        created_at=at(0),
        updated_at=at(0),
    )


def test_an_mfa_token_names_its_user_until_it_expires() -> None:
    clock = Clock()
    challenges = MfaChallenges(b"s" * 32, clock, ttl=300)
    token = challenges.issue(user())
    assert challenges.open(token).user_id == user().id
    assert challenges.issue(user()) != token  # a nonce in each
    clock.now += timedelta(seconds=299)
    assert challenges.open(token).user_id == user().id
    clock.now += timedelta(seconds=1)
    with pytest.raises(InvalidMfaToken):
        challenges.open(token)


def test_an_mfa_token_follows_only_the_password_it_was_issued_after() -> None:
    challenges = MfaChallenges(b"s" * 32, Clock())
    challenge = challenges.open(challenges.issue(user()))
    assert challenges.follows_current_password(challenge, user())
    assert not challenges.follows_current_password(challenge, user(HASH.replace("aGFzaA", "b3RoZXI")))
    # The stamp is under the server secret: another server's stamp of the same hash is another stamp.
    assert not MfaChallenges(b"t" * 32, Clock()).follows_current_password(challenge, user())


def test_an_mfa_token_of_another_secret_or_altered_is_refused() -> None:
    clock = Clock()
    token = MfaChallenges(b"s" * 32, clock).issue(user())
    with pytest.raises(InvalidMfaToken):
        MfaChallenges(b"t" * 32, clock).open(token)
    mine = MfaChallenges(b"s" * 32, clock)
    for altered in (token[:-1], token + "A", "A" + token[1:], token[:10], "", "é" * 20, "=" * 60):
        if altered != token:
            with pytest.raises(InvalidMfaToken):
                mine.open(altered)


def test_an_mfa_token_of_the_format_before_the_password_stamp_is_refused() -> None:
    """A login's first step answered just before an upgrade: its token (signed, unexpired) has no stamp."""
    clock = Clock()
    challenges = MfaChallenges(b"s" * 32, clock)
    payload = f"{user().id}.{int(clock.now.timestamp()) + 300}.bm9uY2U".encode()
    token = base64.urlsafe_b64encode(payload + challenges._mac(payload)).decode().rstrip("=")
    with pytest.raises(InvalidMfaToken):
        challenges.open(token)


def test_an_mfa_token_carries_the_first_step_it_followed() -> None:
    """A password, or a link mailed to the address: the session the code starts says which (its `amr`)."""
    clock = Clock()
    challenges = MfaChallenges(b"s" * 32, clock)
    assert challenges.open(challenges.issue(user())).method == "password"
    assert challenges.open(challenges.issue(user(), "email_link")).method == "email_link"
    expires = int(clock.now.timestamp()) + 300
    stamp = challenges._stamp(user())

    def signed(payload: bytes) -> str:
        return base64.urlsafe_b64encode(payload + challenges._mac(payload)).decode().rstrip("=")

    # Made before the method was carried (just before an upgrade): a password it was.
    before = challenges.open(signed(f"{user().id}.{expires}.bm9uY2U.{stamp}".encode()))
    assert (before.user_id, before.method) == (user().id, "password")
    with pytest.raises(InvalidMfaToken):
        challenges.open(signed(f"{user().id}.{expires}.bm9uY2U.{stamp}.telepathy".encode()))
