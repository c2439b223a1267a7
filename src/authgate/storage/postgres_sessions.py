"""The sessions and their refresh tokens in PostgreSQL (see `storage/base.py`, `SessionStore`); bound to the
connection of a `PostgresStores`."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from authgate.domain.audit import AuditEvent
from authgate.domain.sessions import RefreshToken, Session
from authgate.domain.users import User
from authgate.storage.postgres_audit import event_args, insert_event_sql
from authgate.storage.postgres_rows import (
    JOINED_USER_COLUMNS,
    SESSION_COLUMNS,
    SESSION_WIDTH,
    session_from_row,
    token_from_row,
    user_from_row,
)

# A session and its first refresh token in one statement; with the login's audit event in it too, when given.
_INSERT_SESSION = (
    "s AS (INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip,"
    " second_factor, method) VALUES ($1,$2,$3,$4,$5,$6,$7,$11,$12))"
)
_INSERT_REFRESH = " INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($8,$1,$9,$10)"
_ADD = f"WITH {_INSERT_SESSION}{_INSERT_REFRESH}"
_ADD_WITH_EVENT = f"WITH {_INSERT_SESSION}, a AS ({insert_event_sql(13)}){_INSERT_REFRESH}"


class PostgresSessions:
    def __init__(self, conn: asyncpg.Connection, changed: set[str]) -> None:
        self.conn = conn
        self._changed = changed

    async def add(self, session: Session, first_token: RefreshToken, event: AuditEvent | None = None) -> None:
        args = (
            session.id,
            session.user_id,
            session.created_at,
            session.last_used_at,
            session.expires_at,
            session.user_agent,
            session.ip,
            first_token.token_hash,
            first_token.created_at,
            first_token.expires_at,
            session.second_factor,
            session.method,
        )
        if event is None:
            await self.conn.execute(_ADD, *args)
        else:
            await self.conn.execute(_ADD_WITH_EVENT, *args, *event_args(event))

    async def get(self, session_id: str) -> Session | None:
        row = await self.conn.fetchrow(f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = $1::uuid", session_id)
        return None if row is None else session_from_row(row)

    async def get_with_user(self, session_id: str) -> tuple[Session, User] | None:
        row = await self.conn.fetchrow(
            f"SELECT {SESSION_COLUMNS}, {JOINED_USER_COLUMNS}"
            " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1::uuid",
            session_id,
        )
        return None if row is None else (session_from_row(row), user_from_row(row, SESSION_WIDTH))

    async def list_for_user(self, user_id: str, now: datetime) -> list[Session]:
        rows = await self.conn.fetch(
            f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.user_id = $1::uuid AND s.ended_at IS NULL"
            " AND s.expires_at > $2 ORDER BY s.created_at DESC",
            user_id,
            now,
        )
        return [session_from_row(r) for r in rows]

    async def lock_token(self, token_hash: bytes) -> tuple[RefreshToken, Session, User] | None:
        row = await self.conn.fetchrow(
            "SELECT t.token_hash, t.session_id, t.created_at, t.expires_at, t.rotated_at, t.successor_hash,"
            f" {SESSION_COLUMNS}, {JOINED_USER_COLUMNS}"
            " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id"
            " WHERE t.token_hash = $1 FOR UPDATE OF t",
            token_hash,
        )
        return (
            None
            if row is None
            else (token_from_row(row), session_from_row(row, 6), user_from_row(row, 6 + SESSION_WIDTH))
        )

    async def get_token(self, token_hash: bytes) -> RefreshToken | None:
        row = await self.conn.fetchrow(
            "SELECT token_hash, session_id, created_at, expires_at, rotated_at, successor_hash"
            " FROM refresh_tokens WHERE token_hash = $1",
            token_hash,
        )
        return None if row is None else token_from_row(row)

    async def rotate_current(
        self, token_hash: bytes, successor_hash: bytes, now: datetime, expires_at: datetime
    ) -> tuple[Session, User] | None:
        # One statement, one round trip: the UPDATE's conditions are `rotatable`'s, and `rotated_at IS NULL` is
        # re-checked against a concurrent rotation's commit (READ COMMITTED); the INSERT and the session's touch
        # happen only when it matched.
        row = await self.conn.fetchrow(
            "WITH r AS (UPDATE refresh_tokens t SET rotated_at = $1, successor_hash = $2"
            " FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE t.token_hash = $3 AND t.rotated_at IS NULL AND t.expires_at > $1 AND s.id = t.session_id"
            " AND s.ended_at IS NULL AND s.expires_at > $1 AND NOT u.disabled"
            " RETURNING t.session_id AS rotated_session, LEAST($4, s.expires_at) AS successor_expires,"
            f" {SESSION_COLUMNS}, {JOINED_USER_COLUMNS}),"
            " i AS (INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)"
            " SELECT $2, rotated_session, $1, successor_expires FROM r),"
            " x AS (UPDATE sessions SET last_used_at = $1 WHERE id IN (SELECT rotated_session FROM r))"
            " SELECT * FROM r",
            now,
            successor_hash,
            token_hash,
            expires_at,
        )
        return None if row is None else (session_from_row(row, 2), user_from_row(row, 2 + SESSION_WIDTH))

    async def end(self, session_id: str, now: datetime) -> bool:
        user_id = await self.conn.fetchval(
            "UPDATE sessions SET ended_at = $1 WHERE id = $2::uuid AND ended_at IS NULL RETURNING user_id",
            now,
            session_id,
        )
        if user_id is None:
            return False
        self._changed.add(user_id)
        return True

    async def end_all_for_user(self, user_id: str, now: datetime, keep: str | None = None) -> int:
        self._changed.add(user_id)
        status = await self.conn.execute(
            "UPDATE sessions SET ended_at = $1 WHERE user_id = $2::uuid AND ended_at IS NULL"
            " AND id IS DISTINCT FROM $3::uuid",
            now,
            user_id,
            keep,
        )
        return int(status.rsplit(" ", 1)[1])

    async def delete_expired(self, now: datetime, limit: int) -> int:
        # Each half is a range scan of its own index (migration 0010), and no session is in both: a full batch
        # means there may be more.
        status = await self.conn.execute(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= $1"
            " UNION ALL SELECT id FROM sessions WHERE ended_at <= $1 AND expires_at > $1 LIMIT $2)",
            now,
            limit,
        )
        return int(status.rsplit(" ", 1)[1])

    async def count_active(self, now: datetime) -> int:
        value = await self.conn.fetchval(
            "SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > $1", now
        )
        return int(value)
