"""The audit log in SQLite (see `domain/audit.py`); bound to the connection of a `SqliteStores`."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from authgate.domain.audit import AuditEvent, AuditPage, AuditQuery, first_id_at
from authgate.domain.clock import EPOCH as _EPOCH
from authgate.domain.clock import to_micros

_COLUMNS = "id, at, event, outcome, user_id, actor_id, ip, user_agent, detail"


def _event(row: tuple) -> AuditEvent:  # type: ignore[type-arg]
    return AuditEvent(
        id=row[0],
        at=_EPOCH + timedelta(microseconds=row[1]),
        event=row[2],
        outcome=row[3],
        user_id=row[4],
        actor_id=row[5],
        ip=row[6],
        user_agent=row[7],
        detail=row[8],
    )


def insert_event(conn: sqlite3.Connection, event: AuditEvent) -> None:
    """One event, on `conn` (also for `SqliteSessions.add`, in the same transaction)."""
    conn.execute(
        f"INSERT INTO audit_events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            event.id,
            to_micros(event.at),
            event.event,
            event.outcome,
            event.user_id,
            event.actor_id,
            event.ip,
            event.user_agent,
            event.detail,
        ),
    )


def audit_page_sql(query: AuditQuery) -> tuple[str, list[object]]:
    where: list[str] = []
    args: list[object] = []
    if query.user_id is not None:
        where.append("user_id = ?")
        args.append(query.user_id)
    if query.event is not None:
        where.append("event = ?")
        args.append(query.event)
    if query.before is not None:
        where.append("id < ?")
        args.append(query.before)
    sql = f"SELECT {_COLUMNS} FROM audit_events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(query.limit + 1)
    return sql, args


class SqliteAudit:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def add(self, *events: AuditEvent) -> None:
        for event in events:
            insert_event(self.conn, event)

    async def page(self, query: AuditQuery) -> AuditPage:
        sql, args = audit_page_sql(query)
        rows = self.conn.execute(sql, args).fetchall()
        return AuditPage([_event(r) for r in rows[: query.limit]], has_more=len(rows) > query.limit)

    async def delete_before(self, at: datetime, limit: int) -> int:
        return self.conn.execute(
            "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE id < ?1 ORDER BY id LIMIT ?2)",
            (first_id_at(at), limit),
        ).rowcount
