"""Server secrets: the random keys behind cursors, device tokens, CSRF tokens and refresh rotation, kept in the
key store. Each is made on first start, once, however many workers and instances start at the same time."""

from __future__ import annotations

import os

from authgate.domain.clock import Clock
from authgate.storage.base import Database

SECRET_BYTES = 32


async def server_secret(db: Database, name: str, clock: Clock) -> bytes:
    """The secret called `name`, made now if there is none yet (under the key store's lock)."""
    async with db.reader() as r:
        secret = await r.keys.get_secret(name)
    if secret is None:
        async with db.transaction() as tx:
            await tx.keys.lock()
            secret = await tx.keys.get_secret(name)
            if secret is None:
                secret = os.urandom(SECRET_BYTES)
                await tx.keys.add_secret(name, secret, clock())
    return secret
