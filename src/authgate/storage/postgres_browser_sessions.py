"""The cookies of signed-in browsers in PostgreSQL (see `domain/browser.py`); bound to the connection of a
`PostgresStores`, which makes one when asked (so the API's requests never pay for it)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from authgate.domain.sessions import Session
from authgate.domain.users import User
from authgate.storage.postgres_rows import (
    JOINED_USER_COLUMNS,
    SESSION_COLUMNS,
    SESSION_WIDTH,
    session_from_row,
    user_from_row,
)


class PostgresBrowserSessions:
    __slots__ = ("conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, token_hash: bytes, session_id: str, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO browser_sessions (token_hash, session_id, created_at) VALUES ($1, $2::uuid, $3)",
            token_hash,
            session_id,
            now,
        )

    async def get(self, token_hash: bytes) -> tuple[Session, User] | None:
        row = await self.conn.fetchrow(
            f"SELECT {SESSION_COLUMNS}, {JOINED_USER_COLUMNS} FROM browser_sessions b"
            " JOIN sessions s ON s.id = b.session_id JOIN users u ON u.id = s.user_id WHERE b.token_hash = $1",
            token_hash,
        )
        return None if row is None else (session_from_row(row), user_from_row(row, SESSION_WIDTH))

    async def touch(self, session_id: str, now: datetime) -> None:
        await self.conn.execute("UPDATE sessions SET last_used_at = $1 WHERE id = $2::uuid", now, session_id)

    async def session_ids(self, user_id: str) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT s.id FROM sessions s JOIN browser_sessions b ON b.session_id = s.id"
            " WHERE s.user_id = $1::uuid AND s.ended_at IS NULL",
            user_id,
        )
        return {row[0] for row in rows}
