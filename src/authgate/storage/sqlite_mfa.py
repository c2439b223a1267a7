"""The second factors in SQLite (see `storage/base.py`, `MfaStore`); bound to the connection of a
`SqliteStores`, which makes one when asked (so the API's requests never pay for it).

Every conditional update is one statement, atomic on its own; transactions hold SQLite's write lock anyway.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from authgate.domain.clock import from_micros as _dt
from authgate.domain.clock import to_micros as _ts
from authgate.domain.totp import TotpFactor
from authgate.storage.sqlite_rows import optional_time


class SqliteMfa:
    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def get(self, user_id: str) -> TotpFactor | None:
        row = self.conn.execute(
            "SELECT secret, created_at, confirmed_at, last_step FROM totp_factors WHERE user_id = ?", (user_id,)
        ).fetchone()
        if row is None:
            return None
        return TotpFactor(
            user_id=user_id,
            secret=bytes(row[0]),
            created_at=_dt(row[1]),
            confirmed_at=optional_time(row[2]),
            last_step=row[3],
        )

    async def put(self, factor: TotpFactor) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO totp_factors (user_id, secret, created_at, confirmed_at, last_step)"
            " VALUES (?,?,?,?,?)",
            (
                factor.user_id,
                factor.secret,
                _ts(factor.created_at),
                None if factor.confirmed_at is None else _ts(factor.confirmed_at),
                factor.last_step,
            ),
        )

    async def confirm(self, user_id: str, created_at: datetime, step: int, now: datetime) -> bool:
        cur = self.conn.execute(
            "UPDATE totp_factors SET confirmed_at = ?, last_step = ?"
            " WHERE user_id = ? AND created_at = ? AND confirmed_at IS NULL",
            (_ts(now), step, user_id, _ts(created_at)),
        )
        return cur.rowcount == 1

    async def advance(self, user_id: str, step: int) -> bool:
        cur = self.conn.execute(
            "UPDATE totp_factors SET last_step = ? WHERE user_id = ? AND last_step < ? AND confirmed_at IS NOT NULL",
            (step, user_id, step),
        )
        return cur.rowcount == 1

    async def delete(self, user_id: str) -> bool:
        self.conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
        return self.conn.execute("DELETE FROM totp_factors WHERE user_id = ?", (user_id,)).rowcount == 1

    async def replace_recovery_codes(self, user_id: str, digests: Sequence[bytes], now: datetime) -> None:
        self.conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
        self.conn.executemany(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?,?,?)",
            [(user_id, d, _ts(now)) for d in digests],
        )

    async def use_recovery_code(self, user_id: str, digest: bytes, now: datetime) -> bool:
        cur = self.conn.execute(
            "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
            (_ts(now), user_id, digest),
        )
        return cur.rowcount == 1

    async def recovery_codes_left(self, user_id: str) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL", (user_id,)
        ).fetchone()
        return int(row[0])
