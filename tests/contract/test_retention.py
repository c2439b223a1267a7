"""The retention sweep (domain/retention.py) over the real stores: it empties what is over, batch by batch, and
keeps the rest."""

from __future__ import annotations

from datetime import timedelta

from test_stores import NOW, make_session, make_user

from authgate.domain.audit import AuditQuery, audit_event, first_id_at
from authgate.domain.retention import Retention, Swept
from authgate.storage.base import Database


async def test_a_sweep_deletes_what_is_over_in_batches(db: Database) -> None:
    user = make_user("jade")
    sessions = [make_session(user, now=NOW + timedelta(seconds=i)) for i in range(7)]  # each for 30 days
    async with db.transaction() as tx:
        await tx.users.add(user)
        for s, t, _ in sessions:
            await tx.sessions.add(s, t)
        for s, _, _ in sessions[:5]:
            assert await tx.sessions.end(s.id, NOW)
        for day in (0, 1, 400):
            event = audit_event("logout", at=NOW + timedelta(days=day), user_id=user.id)
            event.id = first_id_at(NOW + timedelta(days=day))  # as if written then (ids carry their time)
            await tx.audit.add(event)
    later = NOW + timedelta(days=400, hours=1)  # five sessions ended, two expired; two events past a year
    retention = Retention(db, lambda: later, audit_days=365, batch=2)
    assert await retention.sweep() == Swept(sessions=7, audit_events=2)
    assert await retention.sweep() == Swept(sessions=0, audit_events=0)
    async with db.reader() as r:
        assert [e.at for e in (await r.audit.page(AuditQuery())).events] == [NOW + timedelta(days=400)]
        for s, t, _ in sessions:
            assert await r.sessions.get(s.id) is None and await r.sessions.get_token(t.token_hash) is None


async def test_live_sessions_stay_and_audit_events_stay_when_kept_for_ever(db: Database) -> None:
    user = make_user("kim")
    live, ended = make_session(user), make_session(user)
    async with db.transaction() as tx:
        await tx.users.add(user)
        for s, t, _ in (live, ended):
            await tx.sessions.add(s, t)
        assert await tx.sessions.end(ended[0].id, NOW)
        old = audit_event("logout", at=NOW, user_id=user.id)
        old.id = first_id_at(NOW - timedelta(days=3650))
        await tx.audit.add(old)
    forever = Retention(db, lambda: NOW + timedelta(days=1), audit_days=0, batch=1)
    assert await forever.sweep() == Swept(sessions=1, audit_events=0)
    async with db.reader() as r:
        assert await r.sessions.get(live[0].id) == live[0]
        assert await r.sessions.get_token(live[1].token_hash) == live[1]
        assert await r.sessions.get(ended[0].id) is None
        assert len((await r.audit.page(AuditQuery(user_id=user.id))).events) == 1
