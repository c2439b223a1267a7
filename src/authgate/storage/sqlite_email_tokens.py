"""The email tokens in SQLite (see `domain/email_tokens.py`); bound to the connection of a `SqliteStores`.

`lock()` is a plain read: every transaction already holds SQLite's write lock (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from authgate.domain.clock import EPOCH as _EPOCH
from authgate.domain.clock import to_micros as _ts
from authgate.domain.email_tokens import EmailToken, Purpose

_COLUMNS = "token_hash, purpose, user_id, email, created_at, expires_at, used_at"


def _token(row: tuple) -> EmailToken:  # type: ignore[type-arg]
    return EmailToken(
        token_hash=bytes(row[0]),
        purpose=row[1],
        user_id=row[2],
        email=row[3],
        created_at=_EPOCH + timedelta(microseconds=row[4]),
        expires_at=_EPOCH + timedelta(microseconds=row[5]),
        used_at=None if row[6] is None else _EPOCH + timedelta(microseconds=row[6]),
    )


class SqliteEmailTokens:
    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def replace(self, token: EmailToken) -> None:
        self.conn.execute("DELETE FROM email_tokens WHERE user_id = ? AND purpose = ?", (token.user_id, token.purpose))
        self.conn.execute(
            f"INSERT INTO email_tokens ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
            (
                token.token_hash,
                token.purpose,
                token.user_id,
                token.email,
                _ts(token.created_at),
                _ts(token.expires_at),
                None if token.used_at is None else _ts(token.used_at),
            ),
        )

    async def get(self, token_hash: bytes) -> EmailToken | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM email_tokens WHERE token_hash = ?", (token_hash,)).fetchone()
        return None if row is None else _token(row)

    async def lock(self, token_hash: bytes) -> EmailToken | None:
        return await self.get(token_hash)

    async def use(self, token_hash: bytes, now: datetime) -> None:
        self.conn.execute("UPDATE email_tokens SET used_at = ? WHERE token_hash = ?", (_ts(now), token_hash))

    async def revoke(self, user_id: str, purposes: tuple[Purpose, ...], now: datetime) -> int:
        if not purposes:
            return 0
        marks = ",".join("?" * len(purposes))
        cur = self.conn.execute(
            f"UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose IN ({marks}) AND used_at IS NULL",
            (_ts(now), user_id, *purposes),
        )
        return cur.rowcount
