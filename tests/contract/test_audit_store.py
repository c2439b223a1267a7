"""The audit store's contract, on every backend (SQLite always; PostgreSQL when reachable)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from authgate.domain.audit import AuditEvent, AuditQuery, audit_event, first_id_at
from authgate.domain.ids import new_id
from authgate.storage.base import Database

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


async def _add(db: Database, *events: AuditEvent) -> None:
    async with db.transaction() as tx:
        for event in events:
            await tx.audit.add(event)


async def test_round_trip_keeps_every_field(db: Database) -> None:
    user, admin = new_id(), new_id()
    event = audit_event(
        "admin_user_update",
        at=NOW,
        user_id=user,
        actor_id=admin,
        ip="2001:db8::1",
        user_agent="curl/8 ünïcode",
        detail={"changed": "roles", "count": 2, "ok": True, "none": None},
    )
    await _add(db, event)
    async with db.reader() as r:
        page = await r.audit.page(AuditQuery(limit=10))
    assert page.events == [event] and not page.has_more


async def test_several_events_in_one_call_are_written_together_or_not_at_all(db: Database) -> None:
    """A failed login writes its event and the lock-out it engages in one call, through `writer()`: one statement
    on PostgreSQL, without a transaction around it."""
    user = new_id()
    failure = audit_event("login_failure", at=NOW, user_id=user, outcome="failure", detail={"reason": "x"})
    lockout = audit_event("lockout", at=NOW, user_id=user, outcome="failure")
    three = [audit_event("logout", at=NOW + timedelta(seconds=i), user_id=user) for i in range(3)]
    async with db.writer() as w:
        await w.audit.add(failure, lockout)
        await w.audit.add(*three)  # past the statements prepared ahead
        await w.audit.add()
    async with db.reader() as r:
        written = (await r.audit.page(AuditQuery(user_id=user))).events
    assert sorted(written, key=lambda e: e.id) == sorted([failure, lockout, *three], key=lambda e: e.id)

    again = audit_event("logout", at=NOW, user_id=user)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):  # the second has the first's id
        async with db.writer() as w:
            await w.audit.add(again, failure)
    async with db.reader() as r:
        assert again.id not in {e.id for e in (await r.audit.page(AuditQuery(user_id=user))).events}


async def test_an_event_may_name_no_user_and_outlives_its_user(db: Database) -> None:
    await _add(db, audit_event("login_failure", at=NOW, outcome="failure", detail={"reason": "unknown_account"}))
    async with db.reader() as r:
        (event,) = (await r.audit.page(AuditQuery())).events
    assert event.user_id is None and event.outcome == "failure"


async def test_newest_first_keyset_pages_and_filters(db: Database) -> None:
    alice, bob = new_id(), new_id()
    events = []
    for i in range(25):
        who = alice if i % 2 == 0 else bob
        name = "login_success" if i % 3 else "login_failure"
        events.append(audit_event(name, at=NOW + timedelta(seconds=i), user_id=who, outcome="success"))
    await _add(db, *events)
    newest_first = sorted(events, key=lambda e: e.id, reverse=True)

    async def walk(**filters: str) -> list[AuditEvent]:
        seen: list[AuditEvent] = []
        before = None
        while True:
            async with db.reader() as r:
                page = await r.audit.page(AuditQuery(limit=4, before=before, **filters))
            seen += page.events
            if not page.has_more:
                return seen
            before = page.events[-1].id

    assert await walk() == newest_first
    assert await walk(user_id=alice) == [e for e in newest_first if e.user_id == alice]
    assert await walk(event="login_failure") == [e for e in newest_first if e.event == "login_failure"]
    both = await walk(user_id=bob, event="login_success")
    assert both == [e for e in newest_first if e.user_id == bob and e.event == "login_success"] and both


async def test_an_audit_write_rolls_back_with_its_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.audit.add(audit_event("logout", at=NOW, user_id=new_id()))
            raise RuntimeError("the change failed")
    async with db.reader() as r:
        assert (await r.audit.page(AuditQuery())).events == []


async def test_delete_before_keeps_the_recent_ones(db: Database) -> None:
    old = audit_event("logout", at=NOW, user_id=new_id())
    old.id = first_id_at(NOW)  # as if written at NOW (ids carry their time)
    recent = audit_event("logout", at=datetime.now(UTC), user_id=new_id())
    await _add(db, old, recent)
    async with db.transaction() as tx:
        assert await tx.audit.delete_before(NOW + timedelta(days=1), 100) == 1
    async with db.reader() as r:
        assert (await r.audit.page(AuditQuery())).events == [recent]


async def test_delete_before_deletes_at_most_its_limit_oldest_first(db: Database) -> None:
    events = []
    for day in range(5):
        event = audit_event("logout", at=NOW + timedelta(days=day), user_id=new_id())
        event.id = first_id_at(NOW + timedelta(days=day))
        events.append(event)
    await _add(db, *events)
    async with db.transaction() as tx:
        assert await tx.audit.delete_before(NOW + timedelta(days=4), 2) == 2
    async with db.reader() as r:
        assert (await r.audit.page(AuditQuery())).events == list(reversed(events[2:]))
    async with db.transaction() as tx:
        assert await tx.audit.delete_before(NOW + timedelta(days=4), 2) == 2
        assert await tx.audit.delete_before(NOW + timedelta(days=4), 2) == 0
    async with db.reader() as r:
        assert (await r.audit.page(AuditQuery())).events == [events[4]]


def test_first_id_at_orders_below_every_later_id() -> None:
    at = datetime.now(UTC)
    assert first_id_at(at) <= new_id()
    assert first_id_at(at + timedelta(seconds=1)) > new_id()
