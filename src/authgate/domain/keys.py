"""Signing keys: Ed25519 key pairs that sign access tokens, and the key ring a worker holds.

The newest key that is not retired signs; every key retired less than one access-token lifetime ago still
verifies (a token it signed may still be alive), and is published in the JWKS until then.
Private keys are stored as raw 32-byte seeds, sealed with AES-256-GCM when a key-encryption key is set.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from datetime import datetime, timedelta

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM = "EdDSA"
_SEALED_PREFIX = b"aesgcm1:"


class StoredKey(msgspec.Struct, kw_only=True):
    """A signing key as the key store keeps it."""

    kid: str
    private_key: bytes
    """The raw Ed25519 seed, or `aesgcm1:` + nonce + ciphertext when sealed."""
    public_key: bytes
    created_at: datetime
    retired_at: datetime | None = None


class Jwk(msgspec.Struct, frozen=True):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str = ALGORITHM
    use: str = "sig"


class KeyEncryptionError(Exception):
    """A sealed private key cannot be opened with the configured key-encryption key."""


def parse_key_encryption_key(value: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    if len(raw) != 32:
        raise ValueError(f"must decode to 32 bytes, got {len(raw)}")
    return raw


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_key(now: datetime, kek: bytes | None) -> StoredKey:
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes_raw()
    kid = now.strftime("%Y%m%d") + "-" + secrets.token_hex(4)
    return StoredKey(kid=kid, private_key=seal(seed, kek, kid), public_key=public, created_at=now)


def seal(plain: bytes, kek: bytes | None, context: str) -> bytes:
    """`plain` sealed with AES-256-GCM under `kek` and bound to `context` (as it is without a `kek`)."""
    if kek is None:
        return plain
    nonce = os.urandom(12)
    return _SEALED_PREFIX + nonce + AESGCM(kek).encrypt(nonce, plain, context.encode())


def unseal(blob: bytes, kek: bytes | None, context: str, label: str) -> bytes:
    """What `seal` sealed (a blob that was not sealed as it is); KeyEncryptionError, naming `label`, when it cannot
    be opened."""
    if not blob.startswith(_SEALED_PREFIX):
        return blob
    if kek is None:
        raise KeyEncryptionError(f"{label} is encrypted and no key-encryption key is configured")
    nonce, ciphertext = blob[len(_SEALED_PREFIX) : len(_SEALED_PREFIX) + 12], blob[len(_SEALED_PREFIX) + 12 :]
    try:
        return AESGCM(kek).decrypt(nonce, ciphertext, context.encode())
    except Exception as exc:
        raise KeyEncryptionError(f"{label} cannot be decrypted with the configured key") from exc


class Keyring:
    """The keys one worker signs and verifies with, loaded from the key store."""

    def __init__(self, keys: list[StoredKey], kek: bytes | None, access_ttl: int, now: datetime) -> None:
        live = [k for k in keys if k.retired_at is None or k.retired_at + timedelta(seconds=access_ttl) > now]
        current = [k for k in live if k.retired_at is None]
        if not current:
            raise LookupError("no current signing key")
        signer = max(current, key=lambda k: (k.created_at, k.kid))
        self.kid = signer.kid
        self.private_key = Ed25519PrivateKey.from_private_bytes(
            unseal(signer.private_key, kek, signer.kid, f"key {signer.kid}")
        )
        self.public_keys: dict[str, Ed25519PublicKey] = {
            k.kid: Ed25519PublicKey.from_public_bytes(k.public_key) for k in live
        }
        self.jwks = [
            Jwk(kty="OKP", crv="Ed25519", x=b64url(k.public_key), kid=k.kid)
            for k in sorted(live, key=lambda k: k.created_at, reverse=True)
        ]
