"""The second-factor store contract (`MfaStore`), on SQLite and PostgreSQL: one authenticator per user, its
conditional confirm and step, and single-use recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from test_email_tokens import add_user

from authgate.domain.totp import TotpFactor
from authgate.storage.base import Database

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


async def test_an_authenticator_round_trips_and_is_replaced(db: Database) -> None:
    alice = await add_user(db, "alice")
    async with db.reader() as r:
        assert await r.mfa.get(alice.id) is None
    first = TotpFactor(user_id=alice.id, secret=b"\x00sealed\xff", created_at=NOW)
    async with db.transaction() as tx:
        await tx.mfa.put(first)
    async with db.reader() as r:
        assert await r.mfa.get(alice.id) == first
    second = TotpFactor(user_id=alice.id, secret=b"other", created_at=NOW + timedelta(seconds=1))
    async with db.transaction() as tx:
        await tx.mfa.put(second)
        # Confirming the one replaced does nothing; the current one, once.
        assert not await tx.mfa.confirm(alice.id, first.created_at, 100, NOW)
        assert await tx.mfa.confirm(alice.id, second.created_at, 100, NOW + timedelta(seconds=2))
        assert not await tx.mfa.confirm(alice.id, second.created_at, 101, NOW + timedelta(seconds=3))
    async with db.reader() as r:
        stored = await r.mfa.get(alice.id)
    assert stored is not None
    assert (stored.secret, stored.confirmed_at, stored.last_step) == (b"other", NOW + timedelta(seconds=2), 100)


async def test_the_step_only_moves_forward_and_only_when_confirmed(db: Database) -> None:
    alice = await add_user(db, "alice")
    factor = TotpFactor(user_id=alice.id, secret=b"s", created_at=NOW)
    async with db.transaction() as tx:
        await tx.mfa.put(factor)
        assert not await tx.mfa.advance(alice.id, 5)  # not confirmed yet
        assert await tx.mfa.confirm(alice.id, NOW, 10, NOW)
        assert not await tx.mfa.advance(alice.id, 10)
        assert not await tx.mfa.advance(alice.id, 9)
        assert await tx.mfa.advance(alice.id, 11)
        assert not await tx.mfa.advance(alice.id, 11)
        assert not await tx.mfa.advance("00000000-0000-7000-8000-000000000000", 99)  # nobody's


async def test_recovery_codes_are_replaced_and_each_used_once(db: Database) -> None:
    alice, bob = await add_user(db, "alice"), await add_user(db, "bob")
    async with db.transaction() as tx:
        await tx.mfa.put(TotpFactor(user_id=alice.id, secret=b"s", created_at=NOW))
        await tx.mfa.replace_recovery_codes(alice.id, [b"a" * 32, b"b" * 32], NOW)
        await tx.mfa.replace_recovery_codes(bob.id, [b"a" * 32], NOW)  # the same digest for another user
    async with db.transaction() as tx:
        assert await tx.mfa.use_recovery_code(alice.id, b"a" * 32, NOW)
        assert not await tx.mfa.use_recovery_code(alice.id, b"a" * 32, NOW)
        assert not await tx.mfa.use_recovery_code(alice.id, b"c" * 32, NOW)
        assert await tx.mfa.recovery_codes_left(alice.id) == 1
        assert await tx.mfa.recovery_codes_left(bob.id) == 1
        await tx.mfa.replace_recovery_codes(alice.id, [b"d" * 32, b"e" * 32, b"f" * 32], NOW)
        assert await tx.mfa.recovery_codes_left(alice.id) == 3
        assert not await tx.mfa.use_recovery_code(alice.id, b"b" * 32, NOW)  # gone with the old set


async def test_removing_the_authenticator_or_the_user_removes_everything(db: Database) -> None:
    alice, bob = await add_user(db, "alice"), await add_user(db, "bob")
    async with db.transaction() as tx:
        for user in (alice, bob):
            await tx.mfa.put(TotpFactor(user_id=user.id, secret=b"s", created_at=NOW))
            await tx.mfa.replace_recovery_codes(user.id, [b"a" * 32], NOW)
    async with db.transaction() as tx:
        assert await tx.mfa.delete(alice.id)
        assert not await tx.mfa.delete(alice.id)
        assert await tx.mfa.get(alice.id) is None and await tx.mfa.recovery_codes_left(alice.id) == 0
        assert await tx.users.delete(bob.id)
    async with db.reader() as r:
        assert await r.mfa.get(bob.id) is None and await r.mfa.recovery_codes_left(bob.id) == 0
