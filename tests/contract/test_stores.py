"""One contract suite, run against every store implementation (SQLite always; PostgreSQL when reachable)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from authgate.domain.audit import AuditQuery, audit_event
from authgate.domain.ids import new_id
from authgate.domain.keys import generate_key
from authgate.domain.server_secrets import server_secret
from authgate.domain.sessions import RefreshToken, Session, hash_refresh_token, new_refresh_token
from authgate.domain.signing import SigningKeys
from authgate.domain.totp import TotpFactor
from authgate.domain.users import User
from authgate.errors import EmailTaken, UsernameTaken
from authgate.storage import open_database
from authgate.storage.base import Database, UserQuery
from authgate.storage.migrations import load_migrations

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def make_user(name: str, *, created: datetime = NOW, roles: tuple[str, ...] = ("user",)) -> User:
    return User(
        id=new_id(),
        username=name,
        email=f"{name}@example.com",
        password_hash="$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        roles=roles,
        created_at=created,
        updated_at=created,
    )


def make_session(user: User, *, now: datetime = NOW) -> tuple[Session, RefreshToken, str]:
    session = Session(
        id=new_id(),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=30),
        user_agent="test/1.0",
        ip="192.0.2.1",
    )
    token = new_refresh_token()
    record = RefreshToken(
        token_hash=hash_refresh_token(token), session_id=session.id, created_at=now, expires_at=now + timedelta(days=1)
    )
    return session, record, token


async def test_migrations_are_idempotent(db: Database) -> None:
    assert await db.migrate() == []
    assert await db.pending_migrations() == []


async def test_concurrent_migrations_apply_once(database_url: str) -> None:
    dbs = [open_database(database_url) for _ in range(3)]
    for d in dbs:
        await d.connect()
    try:
        results = await asyncio.gather(*(d.migrate() for d in dbs))
        everything = len(load_migrations(dbs[0].dialect))
        assert sorted(len(r) for r in results) == [0, 0, everything]
    finally:
        for d in dbs:
            await d.close()


async def test_user_round_trip(db: Database) -> None:
    user = make_user("alice", roles=("admin", "user"))
    async with db.transaction() as tx:
        await tx.users.add(user)
    async with db.reader() as r:
        loaded = await r.users.get(user.id)
        by_name = await r.users.get_by_login("alice")
        by_email = await r.users.get_by_login("alice@example.com")
        missing = await r.users.get_by_login("nobody")
    assert loaded == user
    assert by_name == user and by_email == user and missing is None
    assert loaded is not None and loaded.created_at == NOW  # microseconds and time zone survive


async def test_a_login_reads_the_user_and_whether_a_code_follows(db: Database) -> None:
    user = make_user("alice")
    async with db.transaction() as tx:
        await tx.users.add(user)
    async with db.reader() as r:
        assert await r.users.get_for_login("alice") == (user, False)
        assert await r.users.get_for_login("alice@example.com") == (user, False)
        assert await r.users.get_for_login("nobody") is None
    async with db.transaction() as tx:
        await tx.mfa.put(TotpFactor(user_id=user.id, secret=b"sealed", created_at=NOW))
    async with db.reader() as r:
        assert await r.users.get_for_login("alice") == (user, False)  # not confirmed yet: no code asked
    async with db.transaction() as tx:
        assert await tx.mfa.confirm(user.id, NOW, 1, NOW)
    async with db.reader() as r:
        assert await r.users.get_for_login("alice") == (user, True)
        assert await r.users.get_for_login("alice@example.com") == (user, True)


async def test_unique_keys(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.users.add(make_user("alice"))
    clash = make_user("ALICE")
    clash.email = "different@example.com"
    with pytest.raises(UsernameTaken):
        async with db.transaction() as tx:
            await tx.users.add(clash)
    other = make_user("bob")
    other.email = "Alice@Example.com"
    with pytest.raises(EmailTaken):
        async with db.transaction() as tx:
            await tx.users.add(other)


async def test_failed_transaction_rolls_back(db: Database) -> None:
    user = make_user("carol")
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.users.add(user)
            raise RuntimeError("boom")
    async with db.reader() as r:
        assert await r.users.get(user.id) is None


async def test_update_and_delete(db: Database) -> None:
    user = make_user("dave")
    async with db.transaction() as tx:
        await tx.users.add(user)
    user.disabled = True
    user.roles = ("admin",)
    user.email = "dave2@example.com"
    async with db.transaction() as tx:
        await tx.users.update(user)
        assert await tx.users.count_admins() == 0  # disabled admins do not count
    async with db.reader() as r:
        assert await r.users.get(user.id) == user
    async with db.transaction() as tx:
        assert await tx.users.delete(user.id) is True
        assert await tx.users.delete(user.id) is False


async def test_a_session_is_added_with_its_login_event_or_not_at_all(db: Database) -> None:
    user = make_user("frank")
    async with db.transaction() as tx:
        await tx.users.add(user)
    session, first, _ = make_session(user)
    event = audit_event("login_success", at=NOW, user_id=user.id, detail={"session_id": session.id})
    async with db.writer() as w:
        await w.sessions.add(session, first, event)
    async with db.reader() as r:
        assert await r.sessions.get(session.id) == session
        assert await r.sessions.get_token(first.token_hash) == first
        assert (await r.audit.page(AuditQuery())).events == [event]
    # An event that cannot be written (its id is taken) takes the session and its token with it.
    other, other_first, _ = make_session(user)
    with pytest.raises((asyncpg.UniqueViolationError, sqlite3.IntegrityError)):
        async with db.writer() as w:
            await w.sessions.add(other, other_first, event)
    async with db.reader() as r:
        assert await r.sessions.get(other.id) is None
        assert await r.sessions.get_token(other_first.token_hash) is None
        assert (await r.audit.page(AuditQuery())).events == [event]


async def test_sessions_and_rotation(db: Database) -> None:
    user = make_user("erin")
    session, first, _ = make_session(user)
    async with db.transaction() as tx:
        await tx.users.add(user)
        await tx.sessions.add(session, first)
    async with db.reader() as r:
        found = await r.sessions.get_with_user(session.id)
        assert found is not None
        assert found[0] == session and found[1] == user
        assert await r.sessions.get_token(first.token_hash) == first
    later = NOW + timedelta(minutes=5)
    second = hash_refresh_token(new_refresh_token())
    async with db.transaction() as tx:
        assert await tx.sessions.lock_token(b"\0" * 32) is None
        assert await tx.sessions.lock_token(first.token_hash) == (first, session, user)
    async with db.writer() as w:
        assert await w.sessions.rotate_current(b"\0" * 32, second, later, later + timedelta(days=1)) is None
        assert await w.sessions.rotate_current(first.token_hash, second, later, later + timedelta(days=1)) == (
            session,
            user,
        )
    successor = RefreshToken(
        token_hash=second, session_id=session.id, created_at=later, expires_at=later + timedelta(days=1)
    )
    async with db.reader() as r:
        rotated = await r.sessions.get_token(first.token_hash)
        assert rotated is not None and rotated.rotated_at == later and rotated.successor_hash == second
        assert await r.sessions.get_token(second) == successor
        touched = await r.sessions.get(session.id)
        assert touched is not None and touched.last_used_at == later
    # A second rotation of the same token (a concurrent refresh that lost) writes nothing.
    third = hash_refresh_token(new_refresh_token())
    async with db.writer() as w:
        assert await w.sessions.rotate_current(first.token_hash, third, later, later + timedelta(days=1)) is None
    async with db.reader() as r:
        assert await r.sessions.get_token(first.token_hash) == rotated
        assert await r.sessions.get_token(third) is None
        assert await r.sessions.get(session.id) == touched

    # Two rotations of one token at once, each on its own connection: exactly one of them rotates it.
    rivals = [hash_refresh_token(new_refresh_token()) for _ in range(2)]

    async def rotate(successor_hash: bytes) -> bool:
        async with db.writer() as w:
            return await w.sessions.rotate_current(second, successor_hash, later, later + timedelta(days=1)) is not None

    outcomes = await asyncio.gather(*(rotate(t) for t in rivals))
    assert sorted(outcomes) == [False, True]
    async with db.reader() as r:
        assert await r.sessions.get_token(rivals[outcomes.index(True)]) is not None
        assert await r.sessions.get_token(rivals[outcomes.index(False)]) is None


@pytest.mark.parametrize("why", ["token expired", "session ended", "session expired", "user disabled"])
async def test_a_token_that_is_not_rotatable_is_not_rotated(db: Database, why: str) -> None:
    """`rotate_current` writes nothing unless `rotatable` holds; the use case then decides why, under a lock."""
    user = make_user("gwen", roles=("user",))
    user.disabled = why == "user disabled"
    session, first, _ = make_session(user)
    now = NOW + {"token expired": timedelta(days=2), "session expired": timedelta(days=31)}.get(why, timedelta(0))
    async with db.transaction() as tx:
        await tx.users.add(user)
        await tx.sessions.add(session, first)
        if why == "session ended":
            assert await tx.sessions.end(session.id, NOW)
    successor = hash_refresh_token(new_refresh_token())
    async with db.writer() as w:
        assert await w.sessions.rotate_current(first.token_hash, successor, now, now + timedelta(days=60)) is None
    async with db.reader() as r:
        assert await r.sessions.get_token(first.token_hash) == first
        assert await r.sessions.get_token(successor) is None


async def test_a_successor_expires_no_later_than_its_session(db: Database) -> None:
    user = make_user("hana")
    session, first, _ = make_session(user)  # the session ends 30 days after NOW
    async with db.transaction() as tx:
        await tx.users.add(user)
        await tx.sessions.add(session, first)
    successor = hash_refresh_token(new_refresh_token())
    async with db.writer() as w:
        assert await w.sessions.rotate_current(first.token_hash, successor, NOW, NOW + timedelta(days=60)) is not None
    async with db.reader() as r:
        stored = await r.sessions.get_token(successor)
    assert stored is not None and stored.expires_at == session.expires_at


async def test_end_sessions(db: Database) -> None:
    user = make_user("frank")
    sessions = [make_session(user, now=NOW + timedelta(seconds=i)) for i in range(3)]
    async with db.transaction() as tx:
        await tx.users.add(user)
        for s, t, _ in sessions:
            await tx.sessions.add(s, t)
    async with db.reader() as r:
        listed = await r.sessions.list_for_user(user.id, NOW)
    assert [s.id for s in listed] == [s.id for s, _, _ in reversed(sessions)]  # newest first
    async with db.transaction() as tx:
        assert await tx.sessions.end(sessions[0][0].id, NOW) is True
        assert await tx.sessions.end(sessions[0][0].id, NOW) is False
        assert await tx.sessions.end_all_for_user(user.id, NOW, keep=sessions[2][0].id) == 1
    async with db.reader() as r:
        assert [s.id for s in await r.sessions.list_for_user(user.id, NOW)] == [sessions[2][0].id]
    async with db.transaction() as tx:
        assert await tx.sessions.delete_expired(NOW + timedelta(days=31), 100) == 3
    async with db.reader() as r:
        assert await r.sessions.get(sessions[2][0].id) is None
        assert await r.sessions.get_token(sessions[2][1].token_hash) is None


async def test_delete_expired_takes_the_ended_and_the_expired_at_most_limit_at_a_time(db: Database) -> None:
    user = make_user("iris")
    live, expired, ended, both = (make_session(user, now=NOW + timedelta(seconds=i)) for i in range(4))
    expired[0].expires_at = NOW + timedelta(hours=1)
    both[0].expires_at = NOW + timedelta(hours=1)
    async with db.transaction() as tx:
        await tx.users.add(user)
        for s, t, _ in (live, expired, ended, both):
            await tx.sessions.add(s, t)
        assert await tx.sessions.end(ended[0].id, NOW)
        assert await tx.sessions.end(both[0].id, NOW)
    later = NOW + timedelta(hours=2)
    async with db.transaction() as tx:
        assert await tx.sessions.delete_expired(later, 2) == 2
        assert await tx.sessions.delete_expired(later, 2) == 1  # a session both ended and expired counts once
        assert await tx.sessions.delete_expired(later, 2) == 0
    async with db.reader() as r:
        assert [s.id for s in await r.sessions.list_for_user(user.id, later)] == [live[0].id]
        for s, t, _ in (expired, ended, both):
            assert await r.sessions.get(s.id) is None and await r.sessions.get_token(t.token_hash) is None


async def test_deleting_a_user_deletes_their_sessions(db: Database) -> None:
    user = make_user("gina")
    session, token, _ = make_session(user)
    async with db.transaction() as tx:
        await tx.users.add(user)
        await tx.sessions.add(session, token)
        await tx.users.delete(user.id)
    async with db.reader() as r:
        assert await r.sessions.get(session.id) is None
        assert await r.sessions.get_token(token.token_hash) is None


async def test_keys_and_secrets(db: Database) -> None:
    key = generate_key(NOW, None)
    async with db.transaction() as tx:
        await tx.keys.lock()
        await tx.keys.add(key)
        await tx.keys.add_secret("s", b"\x00\x01secret", NOW)
    async with db.reader() as r:
        assert await r.keys.list() == [key]
        assert await r.keys.get_secret("s") == b"\x00\x01secret"
        assert await r.keys.get_secret("missing") is None
    async with db.transaction() as tx:
        await tx.keys.retire(key.kid, NOW)
    async with db.reader() as r:
        assert (await r.keys.list())[0].retired_at == NOW


async def test_a_rotation_whose_clock_is_behind_never_retires_a_key_before_it_was_made(db: Database) -> None:
    # The clock that a rotation reads can be behind the newest key: another instance's clock runs ahead, or (the
    # failure this pins) the rotation read its time before it waited for the lock, behind a rotation that read later.
    now = [NOW]
    signing = SigningKeys(db, lambda: now[0], None, access_ttl=900)
    await signing.bootstrap()
    for clock in (NOW - timedelta(milliseconds=1), NOW - timedelta(seconds=5), NOW + timedelta(seconds=1)):
        now[0] = clock
        await signing.rotate()
    keys = await signing.list()
    assert len(keys) == 4
    assert all(k.retired_at is None or k.retired_at >= k.created_at for k in keys), keys
    assert [k.created_at for k in keys] == [NOW + timedelta(microseconds=i) for i in range(3)] + [
        NOW + timedelta(seconds=1)
    ]
    assert [k.retired_at is None for k in keys] == [False, False, False, True]  # the current key is the newest


async def test_a_server_secret_is_made_once_however_many_ask_at_once(database_url: str) -> None:
    # Each worker opens its own pool as it starts: one database object (one pool) per asker, as in production.
    databases = [open_database(database_url) for _ in range(6)]
    for database in databases:
        await database.connect()
    await databases[0].migrate()
    try:
        secrets = await asyncio.gather(*(server_secret(d, "test-secret", lambda: NOW) for d in databases))
        assert len(set(secrets)) == 1 and len(secrets[0]) == 32
        assert await server_secret(databases[0], "another", lambda: NOW) != secrets[0]
    finally:
        for database in databases:
            await database.close()


async def test_keyset_pages_walk_every_user_once(db: Database) -> None:
    users = [make_user(f"user{i:03d}", created=NOW + timedelta(seconds=i % 7)) for i in range(45)]
    users[3].roles = ("admin", "user")
    async with db.transaction() as tx:
        for u in users:
            await tx.users.add(u)

    async def walk(sort: str, **filters: str) -> list[str]:
        seen: list[str] = []
        after = None
        while True:
            async with db.reader() as r:
                page = await r.users.page(UserQuery(limit=10, sort=sort, after=after, **filters))  # type: ignore[arg-type]
            seen += [u.id for u in page.users]
            if not page.has_more:
                return seen
            last = page.users[-1]
            key = (
                last.username_key
                if sort == "username"
                else str((last.created_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))
            )
            after = (key, last.id)

    by_created = sorted(users, key=lambda u: (u.created_at, u.id))
    assert await walk("created_at") == [u.id for u in by_created]
    assert await walk("-created_at") == [u.id for u in reversed(by_created)]
    assert await walk("username") == [u.id for u in sorted(users, key=lambda u: u.username_key)]
    assert await walk("username", prefix="user01") == [u.id for u in users[10:20]]
    assert await walk("created_at", role="admin") == [users[3].id]
    assert await walk("created_at", prefix="user044@") == [users[44].id]


@pytest.mark.parametrize("wide_at", [1, 10_000])
async def test_prefix_pages_agree_in_both_plans(db: Database, monkeypatch: pytest.MonkeyPatch, wide_at: int) -> None:
    """q= is answered by a range scan of the key (few matches) or a scan in sort order (many): same rows."""
    monkeypatch.setattr(f"authgate.storage.{'sqlite' if db.dialect == 'sqlite' else 'postgres'}_users.WIDE", wide_at)
    users = [make_user(f"{'ab' if i % 3 else 'zz'}{i:03d}", created=NOW + timedelta(seconds=i)) for i in range(40)]
    for i, u in enumerate(users):
        u.email = f"{'zz' if i % 5 == 0 else 'ab'}-mail{i:03d}@example.com"
        u.roles = ("admin", "user") if i % 4 == 0 else ("user",)
    async with db.transaction() as tx:
        for u in users:
            await tx.users.add(u)
        for i, u in enumerate(users):  # two-step login on for every 7th; set up and never confirmed for the next
            if i % 7 in (0, 1):
                await tx.mfa.put(TotpFactor(user_id=u.id, secret=b"s", created_at=NOW))
            if i % 7 == 0:
                assert await tx.mfa.confirm(u.id, NOW, 1, NOW)
    two_step = {u.id for i, u in enumerate(users) if i % 7 == 0}

    async def walk(sort: str, prefix: str, role: str | None = None) -> list[str]:
        seen: list[str] = []
        after = None
        while True:
            async with db.reader() as r:
                query = UserQuery(limit=3, sort=sort, after=after, prefix=prefix, role=role)  # type: ignore[arg-type]
                page = await r.users.page(query)
            seen += [u.id for u in page.users]
            assert page.two_step == {u.id for u in page.users} & two_step
            if not page.has_more:
                return seen
            last = page.users[-1]
            micros = (last.created_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
            after = (last.username_key if sort == "username" else str(micros), last.id)

    def expected(sort: str, prefix: str, role: str | None = None) -> list[str]:
        hits = [u for u in users if u.username_key.startswith(prefix) or u.email_key.startswith(prefix)]
        hits = [u for u in hits if role is None or role in u.roles]
        key = {"username": lambda u: u.username_key, "created_at": lambda u: (u.created_at, u.id)}
        ordered = sorted(hits, key=key["username" if sort == "username" else "created_at"])
        return [u.id for u in (reversed(ordered) if sort == "-created_at" else ordered)]

    for sort in ("created_at", "-created_at", "username"):
        for prefix in ("zz", "ab", "ab0", "nobody"):
            assert await walk(sort, prefix) == expected(sort, prefix), (sort, prefix)
            assert await walk(sort, prefix, "admin") == expected(sort, prefix, "admin"), (sort, prefix)
