"""The password asked again of a signed-in user before a change that matters: a new password or email, turning
two-step login on or off, new recovery codes, deleting the account.

A stolen session (an access token, a browser cookie) must not become a way to guess the password at the
hashing rate, out of reach of the login's controls: so each check goes behind the account's own limit
(`password:account`, 30 an hour by default) and back-off (after five wrong passwords in a row, waits of 1, 2,
4, ... seconds), kept apart from the login's so that a thief holding a session cannot lock its owner out of
signing in. A right password forgets the wrong ones before it; a wrong one is audited (`reauth_failure`, with
what it was for), as a wrong code is, and the one that engages the back-off with a `lockout` too.
"""

from __future__ import annotations

from typing import Literal

from authgate.domain.clients import ClientInfo, client_event
from authgate.domain.clock import Clock
from authgate.domain.guard import LoginGuard
from authgate.domain.passwords import HashPool, PasswordHasher
from authgate.domain.users import User
from authgate.errors import FieldError, ValidationFailed
from authgate.storage.base import Database

Purpose = Literal[
    "change_password", "change_email", "mfa_setup", "mfa_disable", "mfa_recovery_codes", "delete_account", "passkey_add"
]


class Reauthentication:
    def __init__(
        self, *, db: Database, hasher: PasswordHasher, pool: HashPool, clock: Clock, guard: LoginGuard | None
    ) -> None:
        self.db = db
        self.hasher = hasher
        self.pool = pool
        self.clock = clock
        self.guard = guard
        """The account's limit and back-off for these checks (None: none)."""

    async def confirm(
        self, user: User, password: str, client: ClientInfo, purpose: Purpose, field: str = "password"
    ) -> None:
        """ValidationFailed on `field` when `password` is not the user's (audited); RateLimited (429) past the
        limit or while the back-off makes the account wait, before any hashing."""
        guard = self.guard
        attempt = await guard.current_password(user.id) if guard is not None else None
        ok, _ = await self.pool.run(self.hasher.verify, user.password_hash, password)
        if not ok:
            event = client_event(
                "reauth_failure", client, self.clock(), user_id=user.id, outcome="failure", detail={"for": purpose}
            )
            lockout = guard.lockout(attempt, client, user.id, {"for": purpose}) if guard is not None else None
            async with self.db.writer() as w:
                await w.audit.add(event, *([lockout] if lockout is not None else []))
            raise ValidationFailed([FieldError(field, "is not your current password")])
        if guard is not None and attempt is not None:
            await guard.passed(attempt)
