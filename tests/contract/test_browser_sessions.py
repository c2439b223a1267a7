"""The browser-session store (cookie → session and user), on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_stores import NOW, make_session, make_user

from authgate.domain.browser import hash_cookie
from authgate.storage.base import Database


async def test_a_cookie_finds_its_session_and_user(db: Database) -> None:
    user = make_user("carol")
    session, record, _ = make_session(user)
    cookie_hash = hash_cookie("c" * 43)
    async with db.transaction() as tx:
        await tx.users.add(user)
        await tx.sessions.add(session, record)
        await tx.browser_sessions.add(cookie_hash, session.id, NOW)
    async with db.reader() as r:
        found = await r.browser_sessions.get(cookie_hash)
        assert await r.browser_sessions.get(hash_cookie("d" * 43)) is None
    assert found is not None
    got_session, got_user = found
    assert got_session.id == session.id and got_session.last_used_at == NOW and got_session.ended_at is None
    assert got_user.id == user.id and got_user.username == "carol" and got_user.roles == ("user",)


async def test_touch_moves_the_idle_clock_and_ending_shows(db: Database) -> None:
    user = make_user("dave")
    session, record, _ = make_session(user)
    cookie_hash = hash_cookie("e" * 43)
    later = NOW + timedelta(minutes=5)
    async with db.transaction() as tx:
        await tx.users.add(user)
        await tx.sessions.add(session, record)
        await tx.browser_sessions.add(cookie_hash, session.id, NOW)
    async with db.transaction() as tx:
        await tx.browser_sessions.touch(session.id, later)
        await tx.sessions.end(session.id, later)
    async with db.reader() as r:
        found = await r.browser_sessions.get(cookie_hash)
    assert found is not None
    assert found[0].last_used_at == later and found[0].ended_at == later


async def test_a_session_has_one_cookie_and_deleting_it_removes_the_cookie(db: Database) -> None:
    user = make_user("erin")
    session, record, _ = make_session(user)
    async with db.transaction() as tx:
        await tx.users.add(user)
        await tx.sessions.add(session, record)
        await tx.browser_sessions.add(hash_cookie("f" * 43), session.id, NOW)
    with pytest.raises(Exception, match=r"(?i)unique"):
        async with db.transaction() as tx:
            await tx.browser_sessions.add(hash_cookie("g" * 43), session.id, NOW)
    async with db.transaction() as tx:
        assert await tx.sessions.delete_expired(NOW + timedelta(days=31), 100) == 1
    async with db.reader() as r:
        assert await r.browser_sessions.get(hash_cookie("f" * 43)) is None


async def test_session_ids_are_the_users_open_browser_sessions(db: Database) -> None:
    user, other = make_user("frank"), make_user("gina")
    browser, browser_record, _ = make_session(user)
    api, api_record, _ = make_session(user)
    ended, ended_record, _ = make_session(user)
    theirs, theirs_record, _ = make_session(other)
    async with db.transaction() as tx:
        await tx.users.add(user)
        await tx.users.add(other)
        for session, record in [(browser, browser_record), (api, api_record), (ended, ended_record)]:
            await tx.sessions.add(session, record)
        await tx.sessions.add(theirs, theirs_record)
        await tx.browser_sessions.add(hash_cookie("h" * 43), browser.id, NOW)
        await tx.browser_sessions.add(hash_cookie("i" * 43), ended.id, NOW)
        await tx.browser_sessions.add(hash_cookie("j" * 43), theirs.id, NOW)
        await tx.sessions.end(ended.id, NOW)
    async with db.reader() as r:
        assert await r.browser_sessions.session_ids(user.id) == {browser.id}
        assert await r.browser_sessions.session_ids(other.id) == {theirs.id}
