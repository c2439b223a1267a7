"""The passkey store contract (`PasskeyStore`), on SQLite and PostgreSQL: passkeys round-trip exactly, listed oldest
first for their user only; a credential id is registered once across all users; a login only moves the signature
counter forward (or keeps it at 0 for an authenticator without one); a passkey is removed only by its user, and
with the user; and an answered challenge is spent once, until it expires and is deleted, in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from test_email_tokens import add_user

from authgate.domain.ids import new_id
from authgate.domain.passkeys import Passkey
from authgate.domain.users import User
from authgate.storage.base import Database

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def passkey_for(
    user: User,
    credential_id: bytes,
    *,
    passkey_id: str | None = None,
    sign_count: int = 0,
    backed_up: bool = False,
    transports: tuple[str, ...] = (),
    created_at: datetime = NOW,
) -> Passkey:
    return Passkey(
        id=passkey_id or new_id(),
        user_id=user.id,
        credential_id=credential_id,
        public_key=b"\xa5\x01\x02\x03&\x00cose\xff",
        sign_count=sign_count,
        name=f"{user.username}'s key",
        backed_up=backed_up,
        transports=transports,
        created_at=created_at,
    )


async def stored(db: Database, passkey: Passkey) -> Passkey | None:
    async with db.reader() as r:
        return await r.passkeys.get_by_credential(passkey.credential_id)


async def test_passkeys_round_trip_and_are_listed_oldest_first_for_their_user_only(db: Database) -> None:
    alice, bob = await add_user(db, "alice"), await add_user(db, "bob")
    first_id, second_id, third_id = sorted(new_id() for _ in range(3))
    later = passkey_for(
        alice,
        b"\x00later\xff",
        passkey_id=first_id,
        sign_count=7,
        backed_up=True,
        transports=("internal", "hybrid"),
        created_at=NOW + timedelta(microseconds=1),
    )
    tied_first = passkey_for(alice, b"\x00tied-1\xff", passkey_id=second_id, transports=("usb",))
    tied_second = passkey_for(alice, b"\x00tied-2\xff", passkey_id=third_id)
    bobs = passkey_for(bob, b"bob's", backed_up=True, transports=("nfc", "ble"))
    async with db.transaction() as tx:
        for passkey in (tied_second, later, bobs, tied_first):
            assert await tx.passkeys.add(passkey)
    async with db.reader() as r:
        assert await r.passkeys.list_for_user(alice.id) == [tied_first, tied_second, later]
        assert await r.passkeys.list_for_user(bob.id) == [bobs]
        assert await r.passkeys.list_for_user(new_id()) == []
        for passkey in (later, tied_first, tied_second, bobs):
            assert await r.passkeys.get_by_credential(passkey.credential_id) == passkey
        assert await r.passkeys.get_by_credential(b"\x00unknown\xff") is None
    again = await stored(db, later)
    assert again is not None
    assert (again.transports, again.backed_up, again.last_used_at) == (("internal", "hybrid"), True, None)
    assert again.created_at == NOW + timedelta(microseconds=1) and again.created_at.utcoffset() == timedelta(0)


async def test_a_credential_id_is_registered_once_across_all_users(db: Database) -> None:
    alice, bob = await add_user(db, "alice"), await add_user(db, "bob")
    first = passkey_for(alice, b"\x01shared")
    async with db.transaction() as tx:
        assert await tx.passkeys.add(first)
        assert not await tx.passkeys.add(passkey_for(alice, b"\x01shared", created_at=NOW + timedelta(seconds=1)))
        assert not await tx.passkeys.add(passkey_for(bob, b"\x01shared", sign_count=3, backed_up=True))
    async with db.reader() as r:
        assert await r.passkeys.list_for_user(alice.id) == [first]
        assert await r.passkeys.list_for_user(bob.id) == []
        assert await r.passkeys.get_by_credential(b"\x01shared") == first


async def test_a_passkey_without_a_counter_is_used_with_a_zero_counter(db: Database) -> None:
    alice = await add_user(db, "alice")
    passkey = passkey_for(alice, b"counterless")
    async with db.transaction() as tx:
        assert await tx.passkeys.add(passkey)
    used_at = NOW + timedelta(minutes=1, microseconds=1)
    async with db.transaction() as tx:
        assert await tx.passkeys.used(passkey.id, 0, True, used_at)
    assert await stored(db, passkey) == msgspec.structs.replace(passkey, backed_up=True, last_used_at=used_at)
    again_at = used_at + timedelta(minutes=1)
    async with db.transaction() as tx:
        assert await tx.passkeys.used(passkey.id, 0, False, again_at)
    assert await stored(db, passkey) == msgspec.structs.replace(passkey, backed_up=False, last_used_at=again_at)


async def test_the_counter_only_moves_forward(db: Database) -> None:
    alice = await add_user(db, "alice")
    passkey = passkey_for(alice, b"counting")
    async with db.transaction() as tx:
        assert await tx.passkeys.add(passkey)
    first_at, second_at = NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)
    async with db.transaction() as tx:
        assert await tx.passkeys.used(passkey.id, 5, True, first_at)
        assert not await tx.passkeys.used(passkey.id, 5, False, NOW + timedelta(minutes=3))
        assert not await tx.passkeys.used(passkey.id, 4, False, NOW + timedelta(minutes=3))
        assert not await tx.passkeys.used(passkey.id, 0, False, NOW + timedelta(minutes=3))
    expected = msgspec.structs.replace(passkey, sign_count=5, backed_up=True, last_used_at=first_at)
    assert await stored(db, passkey) == expected
    async with db.transaction() as tx:
        assert await tx.passkeys.used(passkey.id, 6, False, second_at)
        assert not await tx.passkeys.used(passkey.id, 0, True, NOW + timedelta(minutes=3))
    expected = msgspec.structs.replace(passkey, sign_count=6, backed_up=False, last_used_at=second_at)
    assert await stored(db, passkey) == expected


async def test_an_unknown_passkey_is_not_used(db: Database) -> None:
    alice = await add_user(db, "alice")
    passkey = passkey_for(alice, b"known")
    async with db.transaction() as tx:
        assert await tx.passkeys.add(passkey)
        assert not await tx.passkeys.used(new_id(), 0, True, NOW)
        assert not await tx.passkeys.used(new_id(), 1, True, NOW)
    assert await stored(db, passkey) == passkey


async def test_a_passkey_is_deleted_by_its_user_only_and_once(db: Database) -> None:
    alice, bob = await add_user(db, "alice"), await add_user(db, "bob")
    alices = passkey_for(alice, b"alice's", sign_count=2, backed_up=True, transports=("internal", "hybrid"))
    kept = passkey_for(alice, b"alice's other", created_at=NOW + timedelta(seconds=1))
    async with db.transaction() as tx:
        assert await tx.passkeys.add(alices)
        assert await tx.passkeys.add(kept)
    async with db.transaction() as tx:
        assert await tx.passkeys.delete(bob.id, alices.id) is None
        assert await tx.passkeys.delete(alice.id, new_id()) is None
    assert await stored(db, alices) == alices
    async with db.transaction() as tx:
        assert await tx.passkeys.delete(alice.id, alices.id) == alices
        assert await tx.passkeys.delete(alice.id, alices.id) is None
    async with db.reader() as r:
        assert await r.passkeys.get_by_credential(alices.credential_id) is None
        assert await r.passkeys.list_for_user(alice.id) == [kept]
    async with db.transaction() as tx:
        assert await tx.passkeys.add(passkey_for(bob, b"alice's"))


async def test_a_passkey_is_renamed_by_its_user_only(db: Database) -> None:
    alice, bob = await add_user(db, "alice"), await add_user(db, "bob")
    passkey = passkey_for(alice, b"renamed")
    async with db.transaction() as tx:
        await tx.passkeys.add(passkey)
        assert await tx.passkeys.rename(bob.id, passkey.id, "Bob's now") is None
        assert await tx.passkeys.rename(alice.id, new_id(), "Nobody's") is None
        renamed = await tx.passkeys.rename(alice.id, passkey.id, "Work laptop")
    assert renamed == msgspec.structs.replace(passkey, name="Work laptop")
    assert await stored(db, passkey) == renamed


async def test_deleting_the_user_deletes_their_passkeys(db: Database) -> None:
    alice, bob = await add_user(db, "alice"), await add_user(db, "bob")
    alices = [passkey_for(alice, b"alice-1"), passkey_for(alice, b"alice-2", created_at=NOW + timedelta(seconds=1))]
    bobs = passkey_for(bob, b"bob-1")
    async with db.transaction() as tx:
        for passkey in (*alices, bobs):
            assert await tx.passkeys.add(passkey)
    async with db.transaction() as tx:
        assert await tx.users.delete(alice.id)
    async with db.reader() as r:
        assert await r.passkeys.list_for_user(alice.id) == []
        for passkey in alices:
            assert await r.passkeys.get_by_credential(passkey.credential_id) is None
        assert await r.passkeys.list_for_user(bob.id) == [bobs]


async def test_a_challenge_is_spent_once_until_it_expired_and_was_deleted(db: Database) -> None:
    digest = b"\x00" + b"d" * 30 + b"\xff"
    async with db.transaction() as tx:
        assert await tx.passkeys.spend_challenge(digest, NOW)
        assert not await tx.passkeys.spend_challenge(digest, NOW)
        assert not await tx.passkeys.spend_challenge(digest, NOW + timedelta(minutes=5))
    async with db.transaction() as tx:
        assert not await tx.passkeys.spend_challenge(digest, NOW)
        assert await tx.passkeys.delete_spent_challenges(NOW - timedelta(microseconds=1), 10) == 0
        assert not await tx.passkeys.spend_challenge(digest, NOW)
        assert await tx.passkeys.delete_spent_challenges(NOW, 10) == 1
        assert await tx.passkeys.spend_challenge(digest, NOW + timedelta(minutes=5))
        assert not await tx.passkeys.spend_challenge(digest, NOW + timedelta(minutes=5))


async def test_only_expired_challenges_are_deleted_at_most_limit_at_a_time(db: Database) -> None:
    expired = {bytes([i]) * 32: NOW - timedelta(minutes=i) for i in range(5)}
    live = {b"\xf0" * 32: NOW + timedelta(microseconds=1), b"\xf1" * 32: NOW + timedelta(hours=1)}
    async with db.transaction() as tx:
        for digest, expires_at in (expired | live).items():
            assert await tx.passkeys.spend_challenge(digest, expires_at)
    async with db.transaction() as tx:
        assert await tx.passkeys.delete_spent_challenges(NOW, 2) == 2
        assert await tx.passkeys.delete_spent_challenges(NOW, 2) == 2
    async with db.transaction() as tx:
        assert await tx.passkeys.delete_spent_challenges(NOW, 2) == 1
        assert await tx.passkeys.delete_spent_challenges(NOW, 2) == 0
        for digest, expires_at in live.items():
            assert not await tx.passkeys.spend_challenge(digest, expires_at)
        for digest in expired:
            assert await tx.passkeys.spend_challenge(digest, NOW + timedelta(minutes=5))
