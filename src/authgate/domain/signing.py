"""Signing-key management: the first key on first start, rotation, and keeping every worker's key ring fresh.

Key creation and rotation take the key store's lock, so that several workers starting at once (or two
instances rotating at once) end with exactly one current key.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

from authgate.domain.clock import Clock
from authgate.domain.keys import Keyring, StoredKey, generate_key
from authgate.domain.tokens import AccessTokens
from authgate.storage.base import Database, KeyStore

ROTATION_SECRET = "refresh_rotation"  # noqa: S105  (a name, not a secret)
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
        """Make sure a current key and the server secrets exist, and return the key ring."""
        async with self.db.reader() as r:
            keys = await r.keys.list()
            secret = await r.keys.get_secret(ROTATION_SECRET)
        if secret is None or not any(k.retired_at is None for k in keys):
            async with self.db.transaction() as tx:
                await tx.keys.lock()
                keys = await tx.keys.list()
                if not any(k.retired_at is None for k in keys):
                    key = generate_key(self.clock(), self.kek)
                    await tx.keys.add(key)
                    keys.append(key)
                secret = await tx.keys.get_secret(ROTATION_SECRET)
                if secret is None:
                    secret = os.urandom(32)
                    await tx.keys.add_secret(ROTATION_SECRET, secret, self.clock())
        self.rotation_secret = secret
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
        now = self.clock()
        async with self.db.transaction() as tx:
            await tx.keys.lock()
            key = generate_key(now, self.kek)
            await _retire_current(tx.keys, now)
            await tx.keys.add(key)
        return key

    async def reload_for_unknown_kid(self, tokens: AccessTokens) -> bool:
        """Reload the key ring (rate-limited) after a token named a key we do not know; True if reloaded."""
        if time.monotonic() - self._last_reload < UNKNOWN_KID_RELOAD_INTERVAL:
            return False
        tokens.use_keyring(await self.load())
        return True


async def _retire_current(keys: KeyStore, now: datetime) -> None:
    for key in await keys.list():
        if key.retired_at is None:
            await keys.retire(key.kid, now)
