"""Signing keys: generation, sealing with the key-encryption key, and the key ring's choice of signer."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta

import pytest

from authgate.domain.ids import is_id, new_id
from authgate.domain.keys import KeyEncryptionError, Keyring, generate_key

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_sealed_keys_need_the_right_kek() -> None:
    kek = os.urandom(32)
    key = generate_key(NOW, kek)
    assert key.private_key.startswith(b"aesgcm1:") and len(key.public_key) == 32
    ring = Keyring([key], kek, 900, NOW)
    assert ring.kid == key.kid
    with pytest.raises(KeyEncryptionError):
        Keyring([key], None, 900, NOW)
    with pytest.raises(KeyEncryptionError):
        Keyring([key], os.urandom(32), 900, NOW)


def test_retired_keys_verify_until_their_tokens_expire() -> None:
    old, new = generate_key(NOW, None), generate_key(NOW + timedelta(seconds=1), None)
    old.retired_at = NOW + timedelta(seconds=1)
    ring = Keyring([old, new], None, 900, NOW + timedelta(seconds=100))
    assert ring.kid == new.kid and set(ring.public_keys) == {old.kid, new.kid}
    assert [k.kid for k in ring.jwks] == [new.kid, old.kid]
    later = Keyring([old, new], None, 900, NOW + timedelta(seconds=902))
    assert set(later.public_keys) == {new.kid}


def test_jwk_has_no_private_part() -> None:
    ring = Keyring([generate_key(NOW, None)], None, 900, NOW)
    jwk = ring.jwks[0]
    assert (jwk.kty, jwk.crv, jwk.alg, jwk.use) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert len(base64.urlsafe_b64decode(jwk.x + "=")) == 32


def test_ids_are_uuid7_and_ordered() -> None:
    ids = [new_id() for _ in range(100)]
    assert all(is_id(i) and i[14] == "7" and i[19] in "89ab" for i in ids)
    assert len(set(ids)) == 100
    assert not is_id("not-an-id") and not is_id(ids[0].upper())
