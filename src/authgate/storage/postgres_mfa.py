"""The second factors in PostgreSQL (see `storage/base.py`, `MfaStore`); bound to the connection of a
`PostgresStores`, which makes one when asked (so the API's requests never pay for it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from authgate.domain.totp import TotpFactor


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class PostgresMfa:
    __slots__ = ("conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, user_id: str) -> TotpFactor | None:
        row = await self.conn.fetchrow(
            "SELECT secret, created_at, confirmed_at, last_step FROM totp_factors WHERE user_id = $1::uuid", user_id
        )
        if row is None:
            return None
        return TotpFactor(
            user_id=user_id, secret=bytes(row[0]), created_at=row[1], confirmed_at=row[2], last_step=row[3]
        )

    async def put(self, factor: TotpFactor) -> None:
        await self.conn.execute(
            "INSERT INTO totp_factors (user_id, secret, created_at, confirmed_at, last_step)"
            " VALUES ($1::uuid, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret,"
            " created_at = EXCLUDED.created_at, confirmed_at = EXCLUDED.confirmed_at, last_step = EXCLUDED.last_step",
            factor.user_id,
            factor.secret,
            factor.created_at,
            factor.confirmed_at,
            factor.last_step,
        )

    async def confirm(self, user_id: str, created_at: datetime, step: int, now: datetime) -> bool:
        status = await self.conn.execute(
            "UPDATE totp_factors SET confirmed_at = $3, last_step = $4"
            " WHERE user_id = $1::uuid AND created_at = $2 AND confirmed_at IS NULL",
            user_id,
            created_at,
            now,
            step,
        )
        return _count(status) == 1

    async def advance(self, user_id: str, step: int) -> bool:
        status = await self.conn.execute(
            "UPDATE totp_factors SET last_step = $2"
            " WHERE user_id = $1::uuid AND last_step < $2 AND confirmed_at IS NOT NULL",
            user_id,
            step,
        )
        return _count(status) == 1

    async def delete(self, user_id: str) -> bool:
        await self.conn.execute("DELETE FROM recovery_codes WHERE user_id = $1::uuid", user_id)
        return _count(await self.conn.execute("DELETE FROM totp_factors WHERE user_id = $1::uuid", user_id)) == 1

    async def replace_recovery_codes(self, user_id: str, digests: Sequence[bytes], now: datetime) -> None:
        await self.conn.execute("DELETE FROM recovery_codes WHERE user_id = $1::uuid", user_id)
        await self.conn.execute(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) SELECT $1::uuid, unnest($2::bytea[]), $3",
            user_id,
            list(digests),
            now,
        )

    async def use_recovery_code(self, user_id: str, digest: bytes, now: datetime) -> bool:
        status = await self.conn.execute(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1::uuid AND code_hash = $2 AND used_at IS NULL",
            user_id,
            digest,
            now,
        )
        return _count(status) == 1

    async def recovery_codes_left(self, user_id: str) -> int:
        count = await self.conn.fetchval(
            "SELECT count(*) FROM recovery_codes WHERE user_id = $1::uuid AND used_at IS NULL", user_id
        )
        return int(count)
