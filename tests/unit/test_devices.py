"""Known-device tokens: issued for one account, worthless once its password changes, tamper-evident."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from authgate.domain.devices import DEVICE_TOKEN_TTL, DeviceTokens
from authgate.domain.ids import new_id
from authgate.domain.users import User

NOW = datetime(2026, 5, 1, tzinfo=UTC)


HASH = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA"


def make_user(password_hash: str = HASH) -> User:
    return User(
        id=new_id(),
        username="alice",
        email="alice@example.com",
        password_hash=password_hash,
        roles=("user",),
        created_at=NOW,
        updated_at=NOW,
    )


def test_a_token_is_valid_for_its_account_only() -> None:
    clock = [NOW]
    devices = DeviceTokens(os.urandom(32), lambda: clock[0])
    alice, bob = make_user(), make_user()
    token = devices.issue(alice)
    device = DeviceTokens.parse(token)
    assert device is not None and device.user_id == alice.id
    assert devices.is_valid_for(device, alice)
    assert not devices.is_valid_for(device, bob)
    assert devices.issue(alice) != token  # a fresh nonce each time: each device backs off on its own


def test_a_password_change_invalidates_the_tokens() -> None:
    devices = DeviceTokens(os.urandom(32), lambda: NOW)
    alice = make_user()
    device = DeviceTokens.parse(devices.issue(alice))
    assert device is not None
    alice.password_hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$b3RoZXI"
    assert not devices.is_valid_for(device, alice)


def test_expiry_and_another_servers_secret() -> None:
    clock = [NOW]
    devices = DeviceTokens(os.urandom(32), lambda: clock[0])
    alice = make_user()
    device = DeviceTokens.parse(devices.issue(alice))
    assert device is not None
    assert not DeviceTokens(os.urandom(32), lambda: NOW).is_valid_for(device, alice)
    clock[0] = NOW + timedelta(seconds=DEVICE_TOKEN_TTL + 1)
    assert not devices.is_valid_for(device, alice)


def test_malformed_and_tampered_tokens() -> None:
    devices = DeviceTokens(os.urandom(32), lambda: NOW)
    alice = make_user()
    token = devices.issue(alice)
    for bad in (None, "", "x" * 200, "a.b.c.d", "é" + token[1:], token.replace(".", ":"), token + ".x"):
        assert DeviceTokens.parse(bad) is None
    user_id, issued, nonce, tag = token.split(".")
    other = {"A": "B"}  # a character that decodes to other bits than the one it replaces
    for forged in (
        f"{user_id}.{int(issued) + 1}.{nonce}.{tag}",
        f"{user_id}.{issued}.{nonce}x.{tag}",
        f"{user_id}.{issued}.{nonce}.{other.get(tag[0], 'A')}{tag[1:]}",
        f"{user_id}.{issued}.{nonce}.{tag[:-2]}{other.get(tag[-2], 'A')}{tag[-1]}",
    ):
        assert forged != token  # "AA" in place of the tag's last two characters was the token itself 1 time in 256
        device = DeviceTokens.parse(forged)
        assert device is None or not devices.is_valid_for(device, alice)
