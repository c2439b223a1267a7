"""The sessions and their refresh tokens in SQLite (see `storage/base.py`, `SessionStore`); bound to the
connection of a `SqliteStores`."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from authgate.domain.audit import AuditEvent
from authgate.domain.clock import to_micros as _ts
from authgate.domain.sessions import RefreshToken, Session, rotatable
from authgate.domain.users import User
from authgate.storage.sqlite_audit import insert_event
from authgate.storage.sqlite_rows import (
    JOINED_USER_COLUMNS,
    SESSION_COLUMNS,
    SESSION_WIDTH,
    session_from_row,
    token_from_row,
    user_from_row,
)


class SqliteSessions:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def add(self, session: Session, first_token: RefreshToken, event: AuditEvent | None = None) -> None:
        self.conn.execute(
            "INSERT INTO sessions"
            " (id, user_id, created_at, last_used_at, expires_at, user_agent, ip, second_factor, method)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (
                session.id,
                session.user_id,
                _ts(session.created_at),
                _ts(session.last_used_at),
                _ts(session.expires_at),
                session.user_agent,
                session.ip,
                session.second_factor,
                session.method,
            ),
        )
        self._add_token(first_token)
        if event is not None:
            insert_event(self.conn, event)

    def _add_token(self, token: RefreshToken) -> None:
        self.conn.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?,?,?,?)",
            (token.token_hash, token.session_id, _ts(token.created_at), _ts(token.expires_at)),
        )

    async def get(self, session_id: str) -> Session | None:
        row = self.conn.execute(f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?", (session_id,)).fetchone()
        return None if row is None else session_from_row(row)

    async def get_with_user(self, session_id: str) -> tuple[Session, User] | None:
        row = self.conn.execute(
            f"SELECT {SESSION_COLUMNS}, {JOINED_USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.id = ?",
            (session_id,),
        ).fetchone()
        return None if row is None else (session_from_row(row[:SESSION_WIDTH]), user_from_row(row[SESSION_WIDTH:]))

    async def list_for_user(self, user_id: str, now: datetime) -> list[Session]:
        rows = self.conn.execute(
            f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.user_id = ? AND s.ended_at IS NULL"
            " AND s.expires_at > ? ORDER BY s.created_at DESC",
            (user_id, _ts(now)),
        ).fetchall()
        return [session_from_row(r) for r in rows]

    async def lock_token(self, token_hash: bytes) -> tuple[RefreshToken, Session, User] | None:
        # Only ever called in a transaction: BEGIN IMMEDIATE holds the database's write lock, so nothing else can
        # rotate meanwhile.
        row = self.conn.execute(
            "SELECT t.token_hash, t.session_id, t.created_at, t.expires_at, t.rotated_at, t.successor_hash,"
            f" {SESSION_COLUMNS}, {JOINED_USER_COLUMNS}"
            " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id"
            " WHERE t.token_hash = ?",
            (token_hash,),
        ).fetchone()
        return (
            None
            if row is None
            else (
                token_from_row(row[:6]),
                session_from_row(row[6 : 6 + SESSION_WIDTH]),
                user_from_row(row[6 + SESSION_WIDTH :]),
            )
        )

    async def get_token(self, token_hash: bytes) -> RefreshToken | None:
        row = self.conn.execute(
            "SELECT token_hash, session_id, created_at, expires_at, rotated_at, successor_hash"
            " FROM refresh_tokens WHERE token_hash = ?",
            (token_hash,),
        ).fetchone()
        return None if row is None else token_from_row(row)

    async def rotate_current(
        self, token_hash: bytes, successor_hash: bytes, now: datetime, expires_at: datetime
    ) -> tuple[Session, User] | None:
        # `Database.writer()` is a transaction here: the read and the writes hold the write lock throughout.
        found = await self.lock_token(token_hash)
        if found is None or not rotatable(*found, now):
            return None
        _, session, user = found
        self.conn.execute(
            "UPDATE refresh_tokens SET rotated_at = ?, successor_hash = ? WHERE token_hash = ?",
            (_ts(now), successor_hash, token_hash),
        )
        successor = RefreshToken(
            token_hash=successor_hash,
            session_id=session.id,
            created_at=now,
            expires_at=min(expires_at, session.expires_at),
        )
        self._add_token(successor)
        self.conn.execute("UPDATE sessions SET last_used_at = ? WHERE id = ?", (_ts(now), session.id))
        return session, user

    async def end(self, session_id: str, now: datetime) -> bool:
        cur = self.conn.execute(
            "UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (_ts(now), session_id)
        )
        return cur.rowcount > 0

    async def end_all_for_user(self, user_id: str, now: datetime, keep: str | None = None) -> int:
        cur = self.conn.execute(
            "UPDATE sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL AND id IS NOT ?",
            (_ts(now), user_id, keep),
        )
        return cur.rowcount

    async def delete_expired(self, now: datetime, limit: int) -> int:
        cur = self.conn.execute(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= ?1"
            " UNION ALL SELECT id FROM sessions WHERE ended_at <= ?1 AND expires_at > ?1 LIMIT ?2)",
            (_ts(now), limit),
        )
        return cur.rowcount

    async def count_active(self, now: datetime) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > ?", (_ts(now),)
        ).fetchone()
        return int(row[0])
