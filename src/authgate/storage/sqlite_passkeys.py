"""Passkeys in SQLite (see `storage/base.py`, `PasskeyStore`); bound to the connection of a `SqliteStores`,
which makes one when asked (so the API's other requests never pay for it).

Every conditional write is one statement, atomic on its own; transactions hold SQLite's write lock anyway.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from authgate.domain.clock import from_micros as _dt
from authgate.domain.clock import to_micros as _ts
from authgate.domain.passkeys import Passkey
from authgate.storage.sqlite_rows import optional_time

_COLUMNS = "id, user_id, credential_id, public_key, sign_count, name, backed_up, transports, created_at, last_used_at"


def _passkey(row: tuple) -> Passkey:  # type: ignore[type-arg]
    return Passkey(
        id=row[0],
        user_id=row[1],
        credential_id=bytes(row[2]),
        public_key=bytes(row[3]),
        sign_count=row[4],
        name=row[5],
        backed_up=bool(row[6]),
        transports=tuple(row[7].split()) if row[7] else (),
        created_at=_dt(row[8]),
        last_used_at=optional_time(row[9]),
    )


class SqlitePasskeys:
    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def add(self, passkey: Passkey) -> bool:
        cur = self.conn.execute(
            f"INSERT INTO passkeys ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (credential_id) DO NOTHING",
            (
                passkey.id,
                passkey.user_id,
                passkey.credential_id,
                passkey.public_key,
                passkey.sign_count,
                passkey.name,
                int(passkey.backed_up),
                " ".join(passkey.transports),
                _ts(passkey.created_at),
                None if passkey.last_used_at is None else _ts(passkey.last_used_at),
            ),
        )
        return cur.rowcount == 1

    async def list_for_user(self, user_id: str) -> list[Passkey]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM passkeys WHERE user_id = ? ORDER BY created_at, id", (user_id,)
        ).fetchall()
        return [_passkey(row) for row in rows]

    async def get_by_credential(self, credential_id: bytes) -> Passkey | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM passkeys WHERE credential_id = ?", (credential_id,)).fetchone()
        return None if row is None else _passkey(row)

    async def used(self, passkey_id: str, sign_count: int, backed_up: bool, now: datetime) -> bool:
        cur = self.conn.execute(
            "UPDATE passkeys SET sign_count = ?, backed_up = ?, last_used_at = ?"
            " WHERE id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))",
            (sign_count, int(backed_up), _ts(now), passkey_id, sign_count, sign_count),
        )
        return cur.rowcount == 1

    async def rename(self, user_id: str, passkey_id: str, name: str) -> Passkey | None:
        row = self.conn.execute(
            f"UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ? RETURNING {_COLUMNS}",
            (name, passkey_id, user_id),
        ).fetchone()
        return None if row is None else _passkey(row)

    async def delete(self, user_id: str, passkey_id: str) -> Passkey | None:
        row = self.conn.execute(
            f"DELETE FROM passkeys WHERE id = ? AND user_id = ? RETURNING {_COLUMNS}", (passkey_id, user_id)
        ).fetchone()
        return None if row is None else _passkey(row)

    async def spend_challenge(self, digest: bytes, expires_at: datetime) -> bool:
        cur = self.conn.execute(
            "INSERT INTO passkey_challenges_spent (digest, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (digest, _ts(expires_at)),
        )
        return cur.rowcount == 1

    async def delete_spent_challenges(self, now: datetime, limit: int) -> int:
        cur = self.conn.execute(
            "DELETE FROM passkey_challenges_spent WHERE digest IN"
            " (SELECT digest FROM passkey_challenges_spent WHERE expires_at <= ? LIMIT ?)",
            (_ts(now), limit),
        )
        return cur.rowcount
