"""The cookies of signed-in browsers in SQLite (see `domain/browser.py`); bound to the connection of a
`SqliteStores`, which makes one when asked (so the API's requests never pay for it)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from authgate.domain.clock import to_micros as _ts
from authgate.domain.sessions import Session
from authgate.domain.users import User
from authgate.storage.sqlite_rows import (
    JOINED_USER_COLUMNS,
    SESSION_COLUMNS,
    SESSION_WIDTH,
    session_from_row,
    user_from_row,
)


class SqliteBrowserSessions:
    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def add(self, token_hash: bytes, session_id: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO browser_sessions (token_hash, session_id, created_at) VALUES (?,?,?)",
            (token_hash, session_id, _ts(now)),
        )

    async def get(self, token_hash: bytes) -> tuple[Session, User] | None:
        row = self.conn.execute(
            f"SELECT {SESSION_COLUMNS}, {JOINED_USER_COLUMNS} FROM browser_sessions b"
            " JOIN sessions s ON s.id = b.session_id JOIN users u ON u.id = s.user_id WHERE b.token_hash = ?",
            (token_hash,),
        ).fetchone()
        return None if row is None else (session_from_row(row[:SESSION_WIDTH]), user_from_row(row[SESSION_WIDTH:]))

    async def touch(self, session_id: str, now: datetime) -> None:
        self.conn.execute("UPDATE sessions SET last_used_at = ? WHERE id = ?", (_ts(now), session_id))

    async def session_ids(self, user_id: str) -> set[str]:
        rows = self.conn.execute(
            "SELECT s.id FROM sessions s JOIN browser_sessions b ON b.session_id = s.id"
            " WHERE s.user_id = ? AND s.ended_at IS NULL",
            (user_id,),
        ).fetchall()
        return {row[0] for row in rows}
