"""Two-step login: a TOTP authenticator app (RFC 6238) as the second factor, with single-use recovery codes.

Setting it up takes the password (`enroll`: a new secret, shown once as an `otpauth://` URI) and then a code
from the app (`confirm`: two-step login is on, and ten recovery codes are shown once). From then on a login
with the right password answers 403 `mfa_required` with a short-lived signed `mfa_token` instead of tokens, and
the login finishes with that token and a code (`AuthService.login_second_factor`); a recovery code works once
in place of a code. Turning it off or making new recovery codes takes the password and a code.

A code is accepted for the 30-second step it belongs to and one step either side (clock drift), and each step
only once: the store moves the factor's `last_step` forward atomically, so a code seen by someone else is worth
nothing after it was used. Wrong codes count on the account's own back-off (as wrong passwords do on the
login's) and rate limit (`mfa:account`), so six digits cannot be guessed. The secret is sealed with the
key-encryption key when one is set (as the signing keys are); recovery codes are kept as SHA-256 digests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Literal

import msgspec

from authgate.domain.auth import Principal
from authgate.domain.clients import ClientInfo, by_whom, client_event
from authgate.domain.clock import Clock
from authgate.domain.guard import LoginGuard
from authgate.domain.ids import is_id
from authgate.domain.keys import seal, unseal
from authgate.domain.reauth import Reauthentication
from authgate.domain.sessions import LOGIN_METHODS, LoginMethod
from authgate.domain.totp import (
    MAX_CODE_LENGTH,
    TOTP_DIGITS,
    SecondFactorChange,
    TotpFactor,
    could_be_recovery_code,
    new_recovery_codes,
    recovery_code_digest,
    sealing_context,
    totp_step,
)
from authgate.domain.users import User
from authgate.errors import (
    FieldError,
    InvalidMfaCode,
    InvalidMfaToken,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    UserNotFound,
    ValidationFailed,
)
from authgate.storage.base import Database, Stores

CHALLENGE_SECRET = "mfa_challenge"  # noqa: S105  (a name, not a secret)
CHALLENGE_TTL = 300
"""Seconds between the password and the code of one login."""
Method = Literal["totp", "recovery_code"]
ChangedHook = Callable[[User, SecondFactorChange], None]


class Enrollment(msgspec.Struct, frozen=True):
    secret: str
    """Base32, for typing into the app by hand."""
    uri: str
    """`otpauth://totp/...`, for a QR code."""


class MfaStatus(msgspec.Struct, frozen=True):
    enabled: bool
    pending: bool
    """An authenticator was set up and waits for its first code."""
    recovery_codes_left: int


async def mfa_status(stores: Stores, user_id: str) -> MfaStatus:
    """The user's two-step login as the user (`GET /auth/mfa`) and admins (`GET /users/{user_id}`) see it."""
    factor = await stores.mfa.get(user_id)
    left = await stores.mfa.recovery_codes_left(user_id) if factor is not None else 0
    enabled = factor is not None and factor.confirmed_at is not None
    return MfaStatus(enabled=enabled, pending=factor is not None and not enabled, recovery_codes_left=left)


# -- the login's second step ------------------------------------------------------------------------------------


class MfaChallenge(msgspec.Struct, frozen=True):
    """An opened `mfa_token`: whose login it continues, a stamp of the user's password when the first step was
    taken, and what that first step was (the password, or a link mailed to the address)."""

    user_id: str
    password_stamp: str
    method: LoginMethod = "password"


class MfaChallenges:
    """The `mfa_token` of a login whose password was right: the user's id, an expiry and a stamp of the user's
    password hash under an HMAC, so any worker or instance can check it without storing it. It only lets its holder
    *try* codes (which the back-off counts); each code still works once; and it dies with the password it followed
    (a change or reset in between voids it). The key is the server secret CHALLENGE_SECRET (made on first start)."""

    def __init__(self, secret: bytes, clock: Clock, ttl: int = CHALLENGE_TTL) -> None:
        self._secret = secret
        self._clock = clock
        self.ttl = ttl

    def issue(self, user: User, method: LoginMethod = "password") -> str:
        expires = int(self._clock().timestamp()) + self.ttl
        nonce = base64.urlsafe_b64encode(os.urandom(9)).decode()
        payload = f"{user.id}.{expires}.{nonce}.{self._stamp(user)}.{method}".encode()
        return base64.urlsafe_b64encode(payload + self._mac(payload)).decode().rstrip("=")

    def open(self, token: str) -> MfaChallenge:
        """InvalidMfaToken when the token is forged, malformed or expired."""
        if not token or len(token) > 256 or not token.isascii():
            raise InvalidMfaToken()
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raise InvalidMfaToken() from None
        payload, mac = raw[:-32], raw[-32:]
        if len(raw) <= 32 or not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidMfaToken()
        parts = payload.decode().split(".")
        # 3 parts: made before the stamp was; 4: before the method was (a password, then)
        if len(parts) not in (4, 5) or int(parts[1]) <= self._clock().timestamp():
            raise InvalidMfaToken()
        method = parts[4] if len(parts) == 5 else "password"
        if method not in LOGIN_METHODS:
            raise InvalidMfaToken()
        return MfaChallenge(user_id=parts[0], password_stamp=parts[3], method=method)

    def follows_current_password(self, challenge: MfaChallenge, user: User) -> bool:
        """Whether the password checked before the token was issued is still the user's (the same hash)."""
        return hmac.compare_digest(challenge.password_stamp, self._stamp(user))

    def _stamp(self, user: User) -> str:
        digest = hmac.new(self._secret, b"mfa_password:" + user.password_hash.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, b"mfa_challenge:" + payload, hashlib.sha256).digest()


# -- the use cases ------------------------------------------------------------------------------------------------


class SecondFactors:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        challenges: MfaChallenges,
        reauth: Reauthentication,
        kek: bytes | None = None,
        issuer_name: str = "authgate",
        guard: LoginGuard | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.challenges = challenges
        self.reauth = reauth
        self.kek = kek
        self.issuer_name = issuer_name
        self.guard = guard
        """The account's limit and back-off for codes (None: none)."""
        self.on_changed: ChangedHook | None = None
        """Called once a change is committed, to tell the user (the email flows set it)."""

    async def required(self, user_id: str) -> bool:
        """Whether the user's login needs a code (a confirmed authenticator)."""
        async with self.db.reader() as r:
            factor = await r.mfa.get(user_id)
        return factor is not None and factor.confirmed_at is not None

    async def status(self, principal: Principal) -> MfaStatus:
        async with self.db.reader() as r:
            return await mfa_status(r, principal.user.id)

    async def enroll(self, principal: Principal, password: str, client: ClientInfo) -> Enrollment:
        """A new secret for the user's authenticator, replacing one that was never confirmed."""
        user = principal.user
        await self.reauth.confirm(user, password, client, "mfa_setup")
        secret = base64.b32encode(os.urandom(20)).decode("ascii")  # 160 bits, as RFC 4226 recommends
        now = self.clock()
        async with self.db.transaction() as tx:
            existing = await tx.mfa.get(user.id)
            if existing is not None and existing.confirmed_at is not None:
                raise MfaAlreadyEnabled()
            await tx.mfa.put(
                TotpFactor(
                    user_id=user.id, secret=seal(secret.encode(), self.kek, sealing_context(user.id)), created_at=now
                )
            )
        return self._enrollment(user, secret)

    async def pending(self, principal: Principal) -> Enrollment | None:
        """The authenticator set up and not confirmed yet, to show again (the setup page, after a wrong code)."""
        async with self.db.reader() as r:
            factor = await r.mfa.get(principal.user.id)
        if factor is None or factor.confirmed_at is not None:
            return None
        return self._enrollment(principal.user, self._secret(factor))

    def _enrollment(self, user: User, secret: str) -> Enrollment:
        import pyotp  # here, not at the top: a worker's start need not wait for it

        uri = pyotp.TOTP(secret, digits=TOTP_DIGITS).provisioning_uri(name=user.username, issuer_name=self.issuer_name)
        return Enrollment(secret=secret, uri=uri)

    async def confirm(self, principal: Principal, code: str, client: ClientInfo) -> list[str]:
        """Turn two-step login on with a first code from the app; the recovery codes, shown this once."""
        user = principal.user
        async with self.db.reader() as r:
            factor = await r.mfa.get(user.id)
        if factor is None:
            raise MfaNotEnabled()
        if factor.confirmed_at is not None:
            raise MfaAlreadyEnabled()
        step = totp_step(code.strip(), self._secret(factor), self.clock(), factor.last_step)
        if step is None:
            raise ValidationFailed([FieldError("code", "is not the current code of the authenticator app")])
        codes = new_recovery_codes()
        now = self.clock()
        async with self.db.transaction() as tx:
            if not await tx.mfa.confirm(user.id, factor.created_at, step, now):
                raise MfaNotEnabled()  # replaced or removed meanwhile
            await tx.mfa.replace_recovery_codes(user.id, [recovery_code_digest(c) for c in codes], now)
            await tx.audit.add(client_event("mfa_enabled", client, now, user_id=user.id))
        self._changed(user, "enabled")
        return codes

    async def disable(self, principal: Principal, password: str, code: str, client: ClientInfo) -> None:
        user = principal.user
        await self.reauth.confirm(user, password, client, "mfa_disable")
        await self.verify(user, code, client, field="code")
        now = self.clock()
        async with self.db.transaction() as tx:
            await tx.mfa.delete(user.id)
            await tx.audit.add(client_event("mfa_disabled", client, now, user_id=user.id))
        self._changed(user, "disabled")

    async def renew_recovery_codes(
        self, principal: Principal, password: str, code: str, client: ClientInfo
    ) -> list[str]:
        """New recovery codes in place of the old ones (used or not)."""
        user = principal.user
        await self.reauth.confirm(user, password, client, "mfa_recovery_codes")
        await self.verify(user, code, client, field="code")
        codes = new_recovery_codes()
        now = self.clock()
        async with self.db.transaction() as tx:
            await tx.mfa.replace_recovery_codes(user.id, [recovery_code_digest(c) for c in codes], now)
            await tx.audit.add(client_event("mfa_recovery_codes", client, now, user_id=user.id))
        self._changed(user, "recovery_codes")
        return codes

    async def reset(self, user_id: str, *, actor_id: str | None, client: ClientInfo) -> None:
        """An admin (`actor_id`), or an operator on the command line (None), turns a user's two-step login off: a
        lost phone and lost recovery codes."""
        if not is_id(user_id):
            raise UserNotFound()
        now = self.clock()
        async with self.db.transaction() as tx:
            user = await tx.users.get(user_id)
            if user is None:
                raise UserNotFound()
            if not await tx.mfa.delete(user_id):
                raise MfaNotEnabled()
            detail = by_whom(actor_id)
            await tx.audit.add(
                client_event("mfa_disabled", client, now, user_id=user_id, actor_id=actor_id, detail=detail)
            )
        self._changed(user, "reset")

    async def verify(self, user: User, code: str, client: ClientInfo, *, field: str | None = None) -> Method:
        """Check a code (or a recovery code) of the user's confirmed authenticator and use it up, behind the
        account's limit and back-off for codes. A wrong one is audited and raises InvalidMfaCode, or
        ValidationFailed on `field` when given (a form that also took the password)."""
        guard = self.guard
        attempt = await guard.second_factor(user.id) if guard is not None else None
        now = self.clock()
        method: Method | None = None
        async with self.db.reader() as r:
            factor = await r.mfa.get(user.id)
        if factor is None or factor.confirmed_at is None:
            raise MfaNotEnabled()
        typed = code.strip()
        if len(typed) <= MAX_CODE_LENGTH:
            step = totp_step(typed, self._secret(factor), now, factor.last_step)
            digest = recovery_code_digest(typed) if step is None and could_be_recovery_code(typed) else None
            async with self.db.transaction() as tx:
                if step is not None and await tx.mfa.advance(user.id, step):
                    method = "totp"
                elif digest is not None and await tx.mfa.use_recovery_code(user.id, digest, now):
                    method = "recovery_code"
        if method is None:
            lockout = guard.lockout(attempt, client, user.id, {"for": "second_factor"}) if guard is not None else None
            event = client_event("mfa_failure", client, now, user_id=user.id, outcome="failure")
            async with self.db.writer() as w:
                await w.audit.add(event, *([lockout] if lockout is not None else []))
            if field is not None:
                raise ValidationFailed([FieldError(field, "is not a valid code")])
            raise InvalidMfaCode()
        if guard is not None and attempt is not None:
            await guard.passed(attempt)
        return method

    # -- helpers -------------------------------------------------------------------------------------------------

    def _changed(self, user: User, change: SecondFactorChange) -> None:
        if self.on_changed is not None:
            self.on_changed(user, change)

    def _secret(self, factor: TotpFactor) -> str:
        return unseal(factor.secret, self.kek, sealing_context(factor.user_id), "the TOTP secret").decode("ascii")
