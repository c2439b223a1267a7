"""The email-token store contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from authgate.domain.email_tokens import EmailToken, Purpose, hash_email_token, new_email_token
from authgate.domain.ids import new_id
from authgate.domain.users import User
from authgate.storage.base import Database

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


async def add_user(db: Database, name: str) -> User:
    user = User(
        id=new_id(),
        username=name,
        email=f"{name}@example.com",
        password_hash="$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        roles=("user",),
        created_at=NOW,
        updated_at=NOW,
    )
    async with db.transaction() as tx:
        await tx.users.add(user)
    return user


def token_for(user: User, purpose: Purpose = "verify_email", *, email: str | None = None) -> tuple[str, EmailToken]:
    raw = new_email_token()
    return raw, EmailToken(
        token_hash=hash_email_token(raw),
        purpose=purpose,
        user_id=user.id,
        email=email or user.email,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=24),
    )


async def test_round_trip(db: Database) -> None:
    alice = await add_user(db, "alice")
    raw, token = token_for(alice, "change_email", email="Alice.New@Example.org")
    async with db.transaction() as tx:
        await tx.email_tokens.replace(token)
    async with db.reader() as r:
        assert await r.email_tokens.get(hash_email_token(raw)) == token
        assert await r.email_tokens.get(hash_email_token(new_email_token())) is None


async def test_use_marks_it_used(db: Database) -> None:
    alice = await add_user(db, "alice")
    raw, token = token_for(alice)
    async with db.transaction() as tx:
        await tx.email_tokens.replace(token)
    used_at = NOW + timedelta(minutes=5)
    async with db.transaction() as tx:
        locked = await tx.email_tokens.lock(token.token_hash)
        assert locked is not None and locked.used_at is None
        await tx.email_tokens.use(token.token_hash, used_at)
    async with db.reader() as r:
        again = await r.email_tokens.get(hash_email_token(raw))
    assert again is not None and again.used_at == used_at
    assert again.problem("verify_email", used_at) == "used"


async def test_replace_deletes_the_older_tokens_of_that_user_and_purpose_only(db: Database) -> None:
    alice, bob = await add_user(db, "alice"), await add_user(db, "bob")
    _, first = token_for(alice, "reset_password")
    _, other_purpose = token_for(alice, "verify_email")
    _, bobs = token_for(bob, "reset_password")
    _, second = token_for(alice, "reset_password")
    async with db.transaction() as tx:
        for token in (first, other_purpose, bobs):
            await tx.email_tokens.replace(token)
    async with db.transaction() as tx:
        await tx.email_tokens.replace(second)
    async with db.reader() as r:
        assert await r.email_tokens.get(first.token_hash) is None
        assert await r.email_tokens.get(second.token_hash) == second
        assert await r.email_tokens.get(other_purpose.token_hash) == other_purpose
        assert await r.email_tokens.get(bobs.token_hash) == bobs


async def test_revoke_marks_only_unused_tokens_of_the_purposes(db: Database) -> None:
    alice, bob = await add_user(db, "alice"), await add_user(db, "bob")
    _, verify = token_for(alice, "verify_email")
    _, reset = token_for(alice, "reset_password")
    _, change = token_for(alice, "change_email", email="new@example.org")
    _, bobs = token_for(bob, "reset_password")
    async with db.transaction() as tx:
        for token in (verify, reset, change, bobs):
            await tx.email_tokens.replace(token)
        await tx.email_tokens.use(change.token_hash, NOW)
    later = NOW + timedelta(minutes=1)
    async with db.transaction() as tx:
        assert await tx.email_tokens.revoke(alice.id, ("reset_password", "change_email"), later) == 1
        assert await tx.email_tokens.revoke(alice.id, (), later) == 0
    async with db.reader() as r:
        got = {t.purpose: await r.email_tokens.get(t.token_hash) for t in (verify, reset, change)}
        assert await r.email_tokens.get(bobs.token_hash) == bobs
    assert got["verify_email"] is not None and got["verify_email"].used_at is None
    assert got["reset_password"] is not None and got["reset_password"].used_at == later
    assert got["change_email"] is not None and got["change_email"].used_at == NOW  # not moved


async def test_deleting_the_user_deletes_the_tokens(db: Database) -> None:
    alice = await add_user(db, "alice")
    _, token = token_for(alice)
    async with db.transaction() as tx:
        await tx.email_tokens.replace(token)
        assert await tx.users.delete(alice.id)
    async with db.reader() as r:
        assert await r.email_tokens.get(token.token_hash) is None


async def test_a_rolled_back_use_leaves_the_token_usable(db: Database) -> None:
    alice = await add_user(db, "alice")
    _, token = token_for(alice)
    async with db.transaction() as tx:
        await tx.email_tokens.replace(token)
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.email_tokens.use(token.token_hash, NOW)
            raise RuntimeError("the change failed")
    async with db.reader() as r:
        again = await r.email_tokens.get(token.token_hash)
    assert again is not None and again.used_at is None


async def test_lock_serialises_concurrent_uses(db: Database) -> None:
    """Two transactions racing to use one token (two pooled connections on PostgreSQL): exactly one sees it
    unused, because the other waits for the lock."""
    alice = await add_user(db, "alice")
    _, token = token_for(alice)
    async with db.transaction() as tx:
        await tx.email_tokens.replace(token)
    winners: list[bool] = []

    async def attempt() -> None:
        async with db.transaction() as tx:
            locked = await tx.email_tokens.lock(token.token_hash)
            assert locked is not None
            fresh = locked.problem("verify_email", NOW) is None
            await asyncio.sleep(0.05)
            if fresh:
                await tx.email_tokens.use(token.token_hash, NOW)
            winners.append(fresh)

    await asyncio.gather(attempt(), attempt())
    assert sorted(winners) == [False, True]
