"""Passkeys in PostgreSQL (see `storage/base.py`, `PasskeyStore`); bound to the connection of a `PostgresStores`,
which makes one when asked (so the API's other requests never pay for it)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from authgate.domain.passkeys import Passkey

_COLUMNS = "id, user_id, credential_id, public_key, sign_count, name, backed_up, transports, created_at, last_used_at"


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


def _passkey(row: asyncpg.Record) -> Passkey:
    return Passkey(
        id=str(row[0]),
        user_id=str(row[1]),
        credential_id=bytes(row[2]),
        public_key=bytes(row[3]),
        sign_count=row[4],
        name=row[5],
        backed_up=row[6],
        transports=tuple(row[7].split()) if row[7] else (),
        created_at=row[8],
        last_used_at=row[9],
    )


class PostgresPasskeys:
    __slots__ = ("conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, passkey: Passkey) -> bool:
        status = await self.conn.execute(
            f"INSERT INTO passkeys ({_COLUMNS}) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT (credential_id) DO NOTHING",
            passkey.id,
            passkey.user_id,
            passkey.credential_id,
            passkey.public_key,
            passkey.sign_count,
            passkey.name,
            passkey.backed_up,
            " ".join(passkey.transports),
            passkey.created_at,
            passkey.last_used_at,
        )
        return _count(status) == 1

    async def list_for_user(self, user_id: str) -> list[Passkey]:
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM passkeys WHERE user_id = $1::uuid ORDER BY created_at, id", user_id
        )
        return [_passkey(row) for row in rows]

    async def get_by_credential(self, credential_id: bytes) -> Passkey | None:
        row = await self.conn.fetchrow(f"SELECT {_COLUMNS} FROM passkeys WHERE credential_id = $1", credential_id)
        return None if row is None else _passkey(row)

    async def used(self, passkey_id: str, sign_count: int, backed_up: bool, now: datetime) -> bool:
        status = await self.conn.execute(
            "UPDATE passkeys SET sign_count = $2, backed_up = $3, last_used_at = $4"
            " WHERE id = $1::uuid AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))",
            passkey_id,
            sign_count,
            backed_up,
            now,
        )
        return _count(status) == 1

    async def rename(self, user_id: str, passkey_id: str, name: str) -> Passkey | None:
        row = await self.conn.fetchrow(
            f"UPDATE passkeys SET name = $3 WHERE id = $1::uuid AND user_id = $2::uuid RETURNING {_COLUMNS}",
            passkey_id,
            user_id,
            name,
        )
        return None if row is None else _passkey(row)

    async def delete(self, user_id: str, passkey_id: str) -> Passkey | None:
        row = await self.conn.fetchrow(
            f"DELETE FROM passkeys WHERE id = $1::uuid AND user_id = $2::uuid RETURNING {_COLUMNS}",
            passkey_id,
            user_id,
        )
        return None if row is None else _passkey(row)

    async def spend_challenge(self, digest: bytes, expires_at: datetime) -> bool:
        status = await self.conn.execute(
            "INSERT INTO passkey_challenges_spent (digest, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            digest,
            expires_at,
        )
        return _count(status) == 1

    async def delete_spent_challenges(self, now: datetime, limit: int) -> int:
        status = await self.conn.execute(
            "DELETE FROM passkey_challenges_spent WHERE digest IN"
            " (SELECT digest FROM passkey_challenges_spent WHERE expires_at <= $1 LIMIT $2)",
            now,
            limit,
        )
        return _count(status)
