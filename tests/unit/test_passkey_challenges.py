"""The passkeys' stateless challenges and relying party (`domain/passkeys.py`), and their settings: a challenge
opens only for the purpose, user and time it was made for, under the key it was made with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from authgate.config import ConfigError, load_settings
from authgate.domain.ids import new_id
from authgate.domain.passkeys import PasskeyChallenges, RelyingParty

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_a_challenge_opens_for_its_purpose_and_user_until_it_expires() -> None:
    clock = Clock()
    challenges = PasskeyChallenges(b"k" * 32, clock, ttl=300)
    alice, bob = new_id(), new_id()
    made = challenges.issue("register", alice)
    assert challenges.open(made, "register", alice) == NOW + timedelta(seconds=300)
    assert challenges.open(made, "register", bob) is None
    assert challenges.open(made, "login") is None
    login = challenges.issue("login")
    assert challenges.open(login, "login") == NOW + timedelta(seconds=300)
    assert challenges.open(login, "register", alice) is None
    assert len({challenges.issue("login") for _ in range(100)}) == 100  # a fresh nonce each time
    clock.now = NOW + timedelta(seconds=299)
    assert challenges.open(login, "login") is not None
    clock.now = NOW + timedelta(seconds=300)
    assert challenges.open(login, "login") is None


def test_forged_and_malformed_challenges_do_not_open() -> None:
    challenges = PasskeyChallenges(b"k" * 32, Clock())
    made = challenges.issue("login")
    assert PasskeyChallenges(b"j" * 32, Clock()).open(made, "login") is None  # another server's key
    for i in range(len(made)):
        flipped = made[:i] + bytes([made[i] ^ 1]) + made[i + 1 :]
        assert challenges.open(flipped, "login") is None, i
    for spoiled in (b"", made[:-1], made + b"\x00", b"\x00" * len(made)):
        assert challenges.open(spoiled, "login") is None


@pytest.mark.parametrize(
    ("rp_id", "available"),
    [
        ("localhost", True),
        ("auth.example.com", True),
        ("127.0.0.1", False),
        ("[::1]", False),
        ("::1", False),
        ("", False),
    ],
)
def test_passkeys_need_a_domain(rp_id: str, available: bool) -> None:
    assert RelyingParty(id=rp_id, name="authgate", origins=()).available is available


def test_the_relying_party_follows_the_issuer_unless_set() -> None:
    settings = load_settings({"AUTHGATE_ISSUER": "https://id.example.com:8443/"})
    assert (settings.passkey_rp_id, settings.passkey_origins) == ("id.example.com", ("https://id.example.com:8443",))
    assert load_settings({}).passkey_rp_id == "127.0.0.1"  # so they are off in `make run`'s default
    shared = load_settings(
        {
            "AUTHGATE_ISSUER": "https://id.example.com",
            "AUTHGATE_PASSKEY_RP_ID": "example.com",
            "AUTHGATE_PASSKEY_ORIGINS": "https://id.example.com/,https://app.example.com",
        }
    )
    assert shared.passkey_rp_id == "example.com"
    assert shared.passkey_origins == ("https://id.example.com", "https://app.example.com")
    for bad in ("id.example.com", "ftp://id.example.com", "https://id.example.com/login", "https://"):
        with pytest.raises(ConfigError, match="AUTHGATE_PASSKEY_ORIGINS"):
            load_settings({"AUTHGATE_PASSKEY_ORIGINS": bad})
    # An origin off the relying party's domain: browsers would refuse every passkey of its pages.
    for env in (
        {"AUTHGATE_ISSUER": "https://id.example.com", "AUTHGATE_PASSKEY_ORIGINS": "https://evil.example"},
        {"AUTHGATE_PASSKEY_RP_ID": "example.com", "AUTHGATE_PASSKEY_ORIGINS": "https://notexample.com"},
    ):
        with pytest.raises(ConfigError, match="is not on"):
            load_settings(env)
