"""Sessions and their refresh tokens.

A login starts a session; the session is the refresh-token *family*: every refresh token descended from that
login belongs to it. Refresh tokens are 256-bit random strings, stored only as their SHA-256, single-use and
rotated on each refresh. The successor of a token is derived from it with an HMAC under a server secret, so
that within the grace window the predecessor can be answered with the *same* successor (two browser tabs
refreshing at once do not log each other out) without ever storing a token in the clear. Presenting a
rotated token after the grace window ends the whole session (RFC 9700 §4.14.2).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Literal

import msgspec

from authgate.domain.keys import b64url
from authgate.domain.users import User

REFRESH_TOKEN_BYTES = 32
MAX_REFRESH_TOKEN_LENGTH = 128

LoginMethod = Literal["password", "passkey", "email_link"]
LOGIN_METHODS: tuple[LoginMethod, ...] = ("password", "passkey", "email_link")


class Session(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    user_agent: str = ""
    ip: str = ""
    second_factor: str | None = None
    """What proved the user's identity at login beside the password (`totp`, `recovery_code`), if anything."""
    method: LoginMethod = "password"
    """How the login proved who the user is: a password or a link mailed to the address (either maybe with a
    second factor), or a passkey."""

    def is_active(self, now: datetime) -> bool:
        return self.ended_at is None and self.expires_at > now

    @property
    def amr(self) -> tuple[str, ...]:
        """RFC 8176 authentication methods, for the `amr` claim: a password, or a one-time link mailed to the
        address (`otp`), and `mfa` with a code of a second factor (a recovery code is one too); or a passkey, a
        key's proof of possession by a user its authenticator verified (domain/passkeys.py)."""
        if self.method == "passkey":
            return ("swk", "user", "mfa")
        if self.method == "email_link":
            return ("otp",) if self.second_factor is None else ("otp", "mfa")
        return ("pwd",) if self.second_factor is None else ("pwd", "otp", "mfa")


class RefreshToken(msgspec.Struct, kw_only=True):
    token_hash: bytes
    session_id: str
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    successor_hash: bytes | None = None


def rotatable(token: RefreshToken, session: Session, user: User, now: datetime) -> bool:
    """Whether a refresh can rotate this token without a question: it was not rotated yet, has not expired, and
    its session is active and its user enabled (`SessionStore.rotate_current` checks the same in the database)."""
    return token.rotated_at is None and token.expires_at > now and session.is_active(now) and not user.disabled


def new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def successor_of(token: str, rotation_secret: bytes) -> str:
    return b64url(hmac.new(rotation_secret, token.encode("utf-8"), hashlib.sha256).digest())
