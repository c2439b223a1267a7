"""The audit log in PostgreSQL (see `domain/audit.py`); bound to the connection of a `PostgresStores`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from authgate.domain.audit import AuditEvent, AuditPage, AuditQuery, first_id_at

_COLUMNS = "id, at, event, outcome, user_id, actor_id, ip, user_agent, detail"


def insert_event_sql(first: int, count: int = 1) -> str:
    """The INSERT of `count` events whose values are the parameters from `$first` on, nine an event in
    `event_args`' order (also for a statement that inserts an event beside something else: `PostgresSessions.add`)."""
    rows = []
    for start in range(first, first + 9 * count, 9):
        n = range(start, start + 9)
        rows.append(f"(${n[0]}, ${n[1]}, ${n[2]}, ${n[3]}, ${n[4]}::uuid, ${n[5]}::uuid, ${n[6]}, ${n[7]}, ${n[8]})")
    return f"INSERT INTO audit_events ({_COLUMNS}) VALUES {', '.join(rows)}"


def event_args(event: AuditEvent) -> tuple[object, ...]:
    return (
        event.id,
        event.at,
        event.event,
        event.outcome,
        event.user_id,
        event.actor_id,
        event.ip,
        event.user_agent,
        event.detail,
    )


_INSERTS = [insert_event_sql(1, count) for count in range(1, 3)]
"""By how many events they insert (a failed login writes one, or two when it engages the lock-out)."""


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row[0],
        at=row[1],
        event=row[2],
        outcome=row[3],
        user_id=row[4],
        actor_id=row[5],
        ip=row[6],
        user_agent=row[7],
        detail=row[8],
    )


def audit_page_sql(query: AuditQuery) -> tuple[str, list[object]]:
    where: list[str] = []
    args: list[object] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.user_id is not None:
        where.append(f"user_id = {arg(query.user_id)}::uuid")
    if query.event is not None:
        where.append(f"event = {arg(query.event)}")
    if query.before is not None:
        where.append(f"id < {arg(query.before)}::uuid")
    sql = f"SELECT {_COLUMNS} FROM audit_events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY id DESC LIMIT {arg(query.limit + 1)}"
    return sql, args


class PostgresAudit:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, *events: AuditEvent) -> None:
        if not events:
            return
        sql = _INSERTS[len(events) - 1] if len(events) <= len(_INSERTS) else insert_event_sql(1, len(events))
        await self.conn.execute(sql, *[arg for event in events for arg in event_args(event)])

    async def page(self, query: AuditQuery) -> AuditPage:
        sql, args = audit_page_sql(query)
        rows = await self.conn.fetch(sql, *args)
        return AuditPage([_event(r) for r in rows[: query.limit]], has_more=len(rows) > query.limit)

    async def delete_before(self, at: datetime, limit: int) -> int:
        status = await self.conn.execute(
            "DELETE FROM audit_events WHERE id IN"
            " (SELECT id FROM audit_events WHERE id < $1::uuid ORDER BY id LIMIT $2)",
            first_id_at(at),
            limit,
        )
        return int(status.rsplit(" ", 1)[1])
