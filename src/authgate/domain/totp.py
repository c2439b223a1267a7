"""A TOTP authenticator (RFC 6238) as a user's second factor, and its recovery codes: what is kept, and how a
typed code is checked. The use cases are in `domain/mfa.py`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Literal

import msgspec

TOTP_DIGITS = 6
TOTP_DRIFT = 1
"""Steps of 30 s either side of the server's clock that a code may belong to."""
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
"""No 0/o, 1/l/i: read off paper without mistakes. Ten characters of it are 49 bits."""
RECOVERY_LENGTH = 10
MAX_CODE_LENGTH = 64


SecondFactorChange = Literal["enabled", "disabled", "reset", "recovery_codes"]
"""What happened to a user's two-step sign in (`reset`: turned off by an admin), for the mail that tells them."""


class TotpFactor(msgspec.Struct, kw_only=True):
    """A user's authenticator, as the store keeps it: at most one per user."""

    user_id: str
    secret: bytes
    """The base32 secret, sealed with the key-encryption key when one is set."""
    created_at: datetime
    confirmed_at: datetime | None = None
    """None until a first code confirmed it: until then it does not guard the login."""
    last_step: int = 0
    """The newest 30-second step whose code was accepted (a code of that step or before is refused)."""


# -- codes ----------------------------------------------------------------------------------------------------


def totp_step(code: str, secret: str, now: datetime, after: int) -> int | None:
    """The step, later than `after`, within the allowed drift of `now`, whose code `code` is; None if none."""
    if len(code) != TOTP_DIGITS or not (code.isascii() and code.isdigit()):
        return None
    import pyotp  # here, not at the top: a worker's start need not wait for it

    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS)
    current = totp.timecode(now)
    for step in range(current - TOTP_DRIFT, current + TOTP_DRIFT + 1):
        if step > after and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def recovery_code_digest(code: str) -> bytes:
    """What a recovery code is kept as (and looked up by), however it was typed: case, spaces and dashes aside."""
    plain = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).digest()


def could_be_recovery_code(code: str) -> bool:
    plain = "".join(code.split()).replace("-", "").lower()
    return len(plain) == RECOVERY_LENGTH and all(c in RECOVERY_ALPHABET for c in plain)


def sealing_context(user_id: str) -> str:
    """What a sealed secret is bound to: its user (a secret copied to another user's row does not open)."""
    return f"totp:{user_id}"
