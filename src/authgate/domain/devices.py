"""Known-device tokens: proof that a client once logged in to an account with its password.

After each successful login the client receives a `device_token` and presents it on its next logins. A valid
one lets the attempt past the account's back-off (but not past the per-IP limit), so an attacker guessing a
user's password cannot lock the user out of the devices they already use (OWASP's "device cookies").

    <user id>.<issued, unix seconds>.<nonce>.<tag>

The tag is an HMAC-SHA256 under a server secret (kept in the key store, shared by every instance) over the
other parts *and the account's current password hash*: changing or resetting the password makes every device
token of the account worthless, so tokens gathered with a stolen password do not outlive it. Failures made
with a device token count against that token's own back-off, not the account's: a stolen token buys at most
the same few guesses as an unknown client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import msgspec

from authgate.domain.clock import Clock
from authgate.domain.ids import is_id
from authgate.domain.server_secrets import server_secret
from authgate.domain.users import User
from authgate.storage.base import Database

DEVICE_SECRET = "device_tokens"  # noqa: S105  (a name, not a secret)
DEVICE_TOKEN_TTL = 180 * 24 * 3600
MAX_DEVICE_TOKEN_LENGTH = 128
TAG_BYTES = 16


class KnownDevice(msgspec.Struct, frozen=True):
    """A device token as presented (its tag not yet checked)."""

    user_id: str
    issued: int
    nonce: str
    tag: bytes
    signed: str

    @property
    def key(self) -> str:
        """What the device's own back-off counts it by."""
        return "device:" + self.nonce


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class DeviceTokens:
    def __init__(self, secret: bytes, clock: Clock, ttl: int = DEVICE_TOKEN_TTL) -> None:
        if len(secret) < 32:
            raise ValueError("the device-token secret must be at least 32 bytes")
        self._secret = secret
        self.clock = clock
        self.ttl = ttl

    @classmethod
    async def bootstrap(cls, db: Database, clock: Clock) -> DeviceTokens:
        """With the server's device-token secret, made on first start (once, whatever the concurrency)."""
        secret = await server_secret(db, DEVICE_SECRET, clock)
        return cls(secret, clock)

    def _tag(self, signed: str, password_hash: str) -> bytes:
        message = signed.encode("ascii") + b"\x00" + hashlib.sha256(password_hash.encode("utf-8")).digest()
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:TAG_BYTES]

    def issue(self, user: User) -> str:
        signed = f"{user.id}.{int(self.clock().timestamp())}.{secrets.token_urlsafe(12)}"
        return f"{signed}.{_b64(self._tag(signed, user.password_hash))}"

    @staticmethod
    def parse(token: str | None) -> KnownDevice | None:
        """The device a token claims to be, or None when it is not even shaped like one."""
        if not token or len(token) > MAX_DEVICE_TOKEN_LENGTH or not token.isascii():
            return None
        parts = token.split(".")
        if len(parts) != 4 or not is_id(parts[0]) or not parts[1].isdigit() or not parts[2]:
            return None
        try:
            tag = base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4))
        except ValueError:
            return None
        return KnownDevice(parts[0], int(parts[1]), parts[2], tag, ".".join(parts[:3]))

    def is_valid_for(self, device: KnownDevice, user: User) -> bool:
        """Whether this server issued `device` to `user` since the user's password last changed, and not
        longer than the token lifetime ago."""
        if device.user_id != user.id:
            return False
        age = self.clock().timestamp() - device.issued
        if not -300 <= age <= self.ttl:  # a few minutes of clock skew between instances
            return False
        return hmac.compare_digest(device.tag, self._tag(device.signed, user.password_hash))
