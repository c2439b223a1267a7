"""The email tokens in PostgreSQL (see `domain/email_tokens.py`); bound to the connection of a `PostgresStores`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from authgate.domain.email_tokens import EmailToken, Purpose

_COLUMNS = "token_hash, purpose, user_id, email, created_at, expires_at, used_at"


def _token(row: Any) -> EmailToken:
    return EmailToken(
        token_hash=bytes(row[0]),
        purpose=row[1],
        user_id=row[2],
        email=row[3],
        created_at=row[4],
        expires_at=row[5],
        used_at=row[6],
    )


class PostgresEmailTokens:
    __slots__ = ("conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def replace(self, token: EmailToken) -> None:
        # Two replaces for one user at once would each delete only what they saw, then both insert: lock the
        # user's row first, so the second waits and then deletes the first's token. NO KEY UPDATE does not
        # hold up the foreign-key checks of other inserts for the user (a login's new session).
        await self.conn.execute("SELECT 1 FROM users WHERE id = $1::uuid FOR NO KEY UPDATE", token.user_id)
        await self.conn.execute(
            "DELETE FROM email_tokens WHERE user_id = $1::uuid AND purpose = $2", token.user_id, token.purpose
        )
        await self.conn.execute(
            f"INSERT INTO email_tokens ({_COLUMNS}) VALUES ($1, $2, $3::uuid, $4, $5, $6, $7)",
            token.token_hash,
            token.purpose,
            token.user_id,
            token.email,
            token.created_at,
            token.expires_at,
            token.used_at,
        )

    async def get(self, token_hash: bytes) -> EmailToken | None:
        row = await self.conn.fetchrow(f"SELECT {_COLUMNS} FROM email_tokens WHERE token_hash = $1", token_hash)
        return None if row is None else _token(row)

    async def lock(self, token_hash: bytes) -> EmailToken | None:
        row = await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM email_tokens WHERE token_hash = $1 FOR UPDATE", token_hash
        )
        return None if row is None else _token(row)

    async def use(self, token_hash: bytes, now: datetime) -> None:
        await self.conn.execute("UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2", now, token_hash)

    async def revoke(self, user_id: str, purposes: tuple[Purpose, ...], now: datetime) -> int:
        result = await self.conn.execute(
            "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2::uuid AND purpose = ANY($3::text[])"
            " AND used_at IS NULL",
            now,
            user_id,
            list(purposes),
        )
        return int(result.rsplit(" ", 1)[-1])
