"""`UserStore.add_many` (the import's bulk insert), on every store: new users in, taken keys skipped, race-safe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from authgate.domain.ids import new_id
from authgate.domain.users import User
from authgate.storage import open_database
from authgate.storage.base import Database, UserQuery

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
HASH = "pbkdf2:sha256:600000$salt$" + "0" * 64


def make_user(name: str, email: str | None = None, roles: tuple[str, ...] = ("user",)) -> User:
    return User(
        id=new_id(),
        username=name,
        email=email or f"{name}@example.com",
        password_hash=HASH,
        roles=roles,
        created_at=NOW,
        updated_at=NOW,
    )


async def test_inserts_new_users_and_answers_their_ids(db: Database) -> None:
    users = [make_user("alice", roles=("admin", "user")), make_user("bob", roles=()), make_user("carol")]
    async with db.transaction() as tx:
        inserted = await tx.users.add_many(users)
    assert sorted(inserted) == sorted(u.id for u in users)
    async with db.reader() as r:
        for user in users:
            assert await r.users.get(user.id) == user
        admins = await r.users.page(UserQuery(role="admin"))
        everyone = await r.users.page(UserQuery(role="user"))
    assert [u.username for u in admins.users] == ["alice"]
    assert sorted(u.username for u in everyone.users) == ["alice", "carol"]


async def test_skips_taken_usernames_and_emails_whatever_their_case(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.users.add(make_user("alice"))
    batch = [
        make_user("ALICE", email="other@example.com"),  # username key taken
        make_user("bob", email="Alice@Example.com"),  # email key taken
        make_user("carol"),
        make_user("Carol", email="carol2@example.com"),  # taken by the user before it in the same batch
        make_user("dave", email="CAROL@example.com"),  # same
    ]
    async with db.transaction() as tx:
        inserted = await tx.users.add_many(batch)
    assert inserted == [batch[2].id]
    async with db.reader() as r:
        assert (await r.users.get_by_login("alice")).email == "alice@example.com"  # type: ignore[union-attr]
        assert await r.users.get(batch[1].id) is None


async def test_is_idempotent_and_accepts_an_empty_batch(db: Database) -> None:
    async with db.transaction() as tx:
        assert await tx.users.add_many([]) == []
        assert len(await tx.users.add_many([make_user(f"user{i}") for i in range(50)])) == 50
    async with db.transaction() as tx:
        assert await tx.users.add_many([make_user(f"user{i}") for i in range(50)]) == []
    async with db.reader() as r:
        page = await r.users.page(UserQuery(limit=200))
    assert len(page.users) == 50


async def test_rolls_back_with_the_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            assert len(await tx.users.add_many([make_user("alice")])) == 1
            raise RuntimeError("the use case failed after the insert")
    async with db.reader() as r:
        assert await r.users.get_by_login("alice") is None


async def test_concurrent_imports_of_the_same_users_insert_each_once(database_url: str) -> None:
    databases = [open_database(database_url) for _ in range(2)]
    for database in databases:
        await database.connect()
        await database.migrate()
    names = [f"user{i:03}" for i in range(300)]

    async def run(database: Database, order: list[str]) -> list[str]:
        inserted: list[str] = []
        for start in range(0, len(order), 100):
            async with database.transaction() as tx:
                inserted += await tx.users.add_many([make_user(n) for n in order[start : start + 100]])
        return inserted

    try:
        first, second = await asyncio.gather(run(databases[0], names), run(databases[1], names[::-1]))
        assert len(first) + len(second) == len(names)
        async with databases[0].reader() as r:
            page = await r.users.page(UserQuery(limit=200, sort="username"))
        assert [u.username for u in page.users] == names[:200]
    finally:
        for database in databases:
            await database.close()
