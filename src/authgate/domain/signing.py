"""Signing-key management: the first key on first start, rotation, and keeping every worker's key ring fresh.

Key creation and rotation take the key store's lock, so that several workers starting at once (or two
instances rotating at once) end with exactly one current key.
"""

from __future__ import annotations

import time
from datetime import timedelta

from authgate.domain.clock import Clock
from authgate.domain.keys import Keyring, StoredKey, generate_key
from authgate.domain.server_secrets import server_secret
from authgate.domain.tokens import AccessTokens
from authgate.storage.base import Database

ROTATION_SECRET = "refresh_rotation"  # noqa: S105  (a name, not a secret)
_TICK = timedelta(microseconds=1)  # the finest time both stores keep
UNKNOWN_KID_RELOAD_INTERVAL = 5.0
"""At most one key-ring reload per this many seconds when a token names a key id we do not know."""


class SigningKeys:
    def __init__(self, db: Database, clock: Clock, kek: bytes | None, access_ttl: int) -> None:
        self.db = db
        self.clock = clock
        self.kek = kek
        self.access_ttl = access_ttl
        self.rotation_secret = b""
        self._last_reload = 0.0

    async def bootstrap(self) -> Keyring:
        """Make sure a current key and the refresh-rotation secret exist, and return the key ring."""
        async with self.db.reader() as r:
            keys = await r.keys.list()
        if not any(k.retired_at is None for k in keys):
            async with self.db.transaction() as tx:
                await tx.keys.lock()
                keys = await tx.keys.list()
                if not any(k.retired_at is None for k in keys):
                    key = generate_key(self.clock(), self.kek)
                    await tx.keys.add(key)
                    keys.append(key)
        self.rotation_secret = await server_secret(self.db, ROTATION_SECRET, self.clock)
        self._last_reload = time.monotonic()
        return Keyring(keys, self.kek, self.access_ttl, self.clock())

    async def load(self) -> Keyring:
        async with self.db.reader() as r:
            keys = await r.keys.list()
        self._last_reload = time.monotonic()
        return Keyring(keys, self.kek, self.access_ttl, self.clock())

    async def list(self) -> list[StoredKey]:
        async with self.db.reader() as r:
            return await r.keys.list()

    async def rotate(self) -> StoredKey:
        """Add a new current key; the previous one keeps verifying until its tokens have expired."""
        async with self.db.transaction() as tx:
            await tx.keys.lock()
            existing = await tx.keys.list()
            # The time is read under the lock and is always after the newest key's (another instance's clock may
            # be ahead): a rotation that waited must not retire a key before it was made, and keys stay in order.
            now = max([self.clock(), *(k.created_at + _TICK for k in existing)])
            key = generate_key(now, self.kek)
            for old in existing:
                if old.retired_at is None:
                    await tx.keys.retire(old.kid, now)
            await tx.keys.add(key)
        return key

    async def reload_for_unknown_kid(self, tokens: AccessTokens) -> bool:
        """Reload the key ring (rate-limited) after a token named a key we do not know; True if reloaded."""
        if time.monotonic() - self._last_reload < UNKNOWN_KID_RELOAD_INTERVAL:
            return False
        tokens.use_keyring(await self.load())
        return True
