"""Retention: what is over is deleted, in small batches, so that the tables hold what is live and the audit log
what the operator chose to keep.

- Sessions past their absolute expiry or ended (logout, a reused refresh token, an admin, a password change)
  go, with their refresh tokens and browser cookies: every refresh adds a token, so without this the tokens
  table would grow by a row per refresh for ever. A refresh token of a deleted session is then unknown (401
  `invalid_refresh_token`) rather than of an ended session (401 `session_ended`): refused all the same.
- Audit events older than the retention (`AUTHGATE_AUDIT_RETENTION_DAYS`; 0 keeps them for ever).
- The digests of answered passkey challenges, once the challenges expired (they can no longer be answered).

Each batch is a short transaction of its own (at most `batch` rows), so a sweep after a long pause holds no lock
or snapshot for long; a sweep ends with the first short batch. Sweeps from several workers or instances at once
delete each row once; the others only repeat an index scan that finds nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import msgspec

from authgate.domain.clock import Clock
from authgate.storage.base import Database, Stores

BATCH = 1000


class Swept(msgspec.Struct, frozen=True):
    sessions: int
    """Sessions deleted (each with its refresh tokens and browser cookie)."""
    audit_events: int
    passkey_challenges: int = 0


class Retention:
    def __init__(self, db: Database, clock: Clock, *, audit_days: int, batch: int = BATCH) -> None:
        self.db = db
        self.clock = clock
        self.audit_days = audit_days
        """0: audit events are kept for ever."""
        self.batch = batch

    async def sweep(self) -> Swept:
        now = self.clock()
        sessions = await self._in_batches(lambda tx: tx.sessions.delete_expired(now, self.batch))
        events = 0
        if self.audit_days:
            cutoff = now - timedelta(days=self.audit_days)
            events = await self._in_batches(lambda tx: tx.audit.delete_before(cutoff, self.batch))
        challenges = await self._in_batches(lambda tx: tx.passkeys.delete_spent_challenges(now, self.batch))
        return Swept(sessions=sessions, audit_events=events, passkey_challenges=challenges)

    async def _in_batches(self, delete: Callable[[Stores], Awaitable[int]]) -> int:
        total = 0
        while True:
            async with self.db.transaction() as tx:
                deleted = await delete(tx)
            total += deleted
            if deleted < self.batch:
                return total
            await asyncio.sleep(0)  # requests get the event loop between batches
