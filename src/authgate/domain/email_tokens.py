"""Email tokens: the secrets in the links that authgate mails (verify an address, reset a password, confirm a
new address, sign in).

A token is 256 random bits (`secrets.token_urlsafe(32)`, 43 characters); the database holds only its SHA-256,
so a copy of the database cannot be used to take over accounts. Each token has one purpose, one user, the
address it was mailed to, an expiry, and is single use (`used_at`). Issuing a token of a purpose deletes the
user's older tokens of that purpose, so only the newest link works (and the table holds at most a few rows
per user, with no clean-up job).

A token is only honoured while the user's address is still the one it was mailed to: after an email change
(by the user or an admin), the links mailed to the old address stop working.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Literal

import msgspec

from authgate.domain.users import email_key
from authgate.errors import InvalidToken

Purpose = Literal["verify_email", "reset_password", "change_email", "login"]
PURPOSES: tuple[Purpose, ...] = ("verify_email", "reset_password", "change_email", "login")

EMAIL_TOKEN_BYTES = 32
MAX_EMAIL_TOKEN_LENGTH = 128
"""Anything longer is refused before it is hashed (what we issue is 43 characters)."""

Problem = Literal["malformed", "unknown", "wrong_purpose", "used", "expired", "address_changed", "account_unavailable"]
"""Why a token was refused (logged, never told to the client: it always gets 400 invalid_token)."""


class RefusedToken(InvalidToken):
    """400 invalid_token, whatever the reason; `reason` is for the log."""

    def __init__(self, reason: Problem) -> None:
        self.reason: Problem = reason
        super().__init__()


class EmailToken(msgspec.Struct, kw_only=True):
    token_hash: bytes
    purpose: Purpose
    user_id: str
    email: str
    """The address the token was mailed to (for change_email: the new address)."""
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def problem(self, purpose: Purpose, now: datetime) -> Problem | None:
        """Why this token cannot be used for `purpose` now, or None when it can."""
        if self.purpose != purpose:
            return "wrong_purpose"
        if self.used_at is not None:
            return "used"
        if self.expires_at <= now:
            return "expired"
        return None

    def mailed_to(self, address: str) -> bool:
        """Whether the token was mailed to `address` (compared as account keys: case-insensitively)."""
        return email_key(self.email) == email_key(address)


def new_email_token() -> str:
    return secrets.token_urlsafe(EMAIL_TOKEN_BYTES)


def hash_email_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def plausible(token: str) -> bool:
    """Cheap shape check before any database work: non-empty, not absurdly long, URL-safe base64 only."""
    return 0 < len(token) <= MAX_EMAIL_TOKEN_LENGTH and token.isascii() and all(c.isalnum() or c in "-_" for c in token)
