"""The users in PostgreSQL (see `storage/base.py`, `UserStore`); bound to the connection of a `PostgresStores`."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from authgate.domain.users import User
from authgate.errors import EmailTaken, UsernameTaken
from authgate.storage.base import UserPage, UserQuery
from authgate.storage.postgres_rows import USER_COLUMNS, USER_WIDTH, user_from_row
from authgate.storage.userpage import PREFIX_END, WIDE, Dialect, count_prefix_sql, page_sql, two_step_sql

_ADMIN_LOCK = 0x61646D6E  # "admn": advisory lock id for changes that may remove an admin
_KEYS = ("username_key", "email_key")


def _unique_violation(exc: Exception) -> Exception:
    constraint = str(getattr(exc, "constraint_name", "") or "")
    if "username_key" in constraint:
        return UsernameTaken()
    if "email_key" in constraint:
        return EmailTaken()
    return exc


_DIALECT = Dialect("postgres")
# The user a login names, with whether two-step login is on for them (see `UserStore.get_for_login`).
_TWO_STEP = two_step_sql("users")
_GET_FOR_LOGIN = (
    f"(SELECT {USER_COLUMNS}, {_TWO_STEP} FROM users WHERE username_key = $1)"
    f" UNION ALL (SELECT {USER_COLUMNS}, {_TWO_STEP} FROM users WHERE email_key = $1) LIMIT 1"
)


def user_page_sql(query: UserQuery, wide: tuple[bool, bool] = (False, False)) -> tuple[str, list[object]]:
    """The statement and arguments of `page()` (a function, so that the scale check can EXPLAIN it)."""
    return page_sql(_DIALECT, query, wide)


class PostgresUsers:
    def __init__(self, conn: asyncpg.Connection, changed: set[str]) -> None:
        self.conn = conn
        self._changed = changed

    async def add(self, user: User) -> None:
        try:
            await self.conn.execute(
                "INSERT INTO users (id, username, username_key, email, email_key, password_hash, roles,"
                " disabled, email_verified, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
                user.id,
                user.username,
                user.username_key,
                user.email,
                user.email_key,
                user.password_hash,
                list(user.roles),
                user.disabled,
                user.email_verified,
                user.created_at,
                user.updated_at,
            )
        except asyncpg.UniqueViolationError as exc:
            raise _unique_violation(exc) from None

    async def add_many(self, users: Sequence[User]) -> list[str]:
        if not users:
            return []
        # One statement per batch; in username order, so that two imports of the same names wait for each other
        # rather than deadlock. Roles travel comma-joined (role names hold no comma; '' becomes {}), as an array
        # of arrays cannot be ragged.
        ordered = sorted(users, key=lambda u: u.username_key)
        rows = await self.conn.fetch(
            "INSERT INTO users (id, username, username_key, email, email_key, password_hash, roles,"
            " disabled, email_verified, created_at, updated_at)"
            " SELECT id::uuid, username, username_key, email, email_key, password_hash,"
            " string_to_array(roles, ','),"
            " disabled, email_verified, created_at, updated_at"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
            " $8::boolean[], $9::boolean[], $10::timestamptz[], $11::timestamptz[])"
            " AS t(id, username, username_key, email, email_key, password_hash, roles,"
            " disabled, email_verified, created_at, updated_at)"
            " ON CONFLICT DO NOTHING RETURNING id",
            [u.id for u in ordered],
            [u.username for u in ordered],
            [u.username_key for u in ordered],
            [u.email for u in ordered],
            [u.email_key for u in ordered],
            [u.password_hash for u in ordered],
            [",".join(u.roles) for u in ordered],
            [u.disabled for u in ordered],
            [u.email_verified for u in ordered],
            [u.created_at for u in ordered],
            [u.updated_at for u in ordered],
        )
        return [row[0] for row in rows]

    async def get(self, user_id: str) -> User | None:
        row = await self.conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1::uuid", user_id)
        return None if row is None else user_from_row(row)

    async def get_by_login(self, key: str) -> User | None:
        row = await self.conn.fetchrow(
            f"(SELECT {USER_COLUMNS} FROM users WHERE username_key = $1)"
            f" UNION ALL (SELECT {USER_COLUMNS} FROM users WHERE email_key = $1) LIMIT 1",
            key,
        )
        return None if row is None else user_from_row(row)

    async def get_for_login(self, key: str) -> tuple[User, bool] | None:
        row = await self.conn.fetchrow(_GET_FOR_LOGIN, key)
        return None if row is None else (user_from_row(row), row[USER_WIDTH])

    async def update(self, user: User) -> None:
        self._changed.add(user.id)
        try:
            await self.conn.execute(
                "UPDATE users SET username = $1, username_key = $2, email = $3, email_key = $4,"
                " password_hash = $5, roles = $6, disabled = $7, email_verified = $8, updated_at = $9"
                " WHERE id = $10::uuid",
                user.username,
                user.username_key,
                user.email,
                user.email_key,
                user.password_hash,
                list(user.roles),
                user.disabled,
                user.email_verified,
                user.updated_at,
                user.id,
            )
        except asyncpg.UniqueViolationError as exc:
            raise _unique_violation(exc) from None

    async def delete(self, user_id: str) -> bool:
        status = await self.conn.execute("DELETE FROM users WHERE id = $1::uuid", user_id)
        self._changed.add(user_id)
        return bool(status != "DELETE 0")

    async def count_admins(self) -> int:
        value = await self.conn.fetchval(
            "SELECT count(*) FROM user_roles r JOIN users u ON u.id = r.user_id WHERE r.role = 'admin'"
            " AND NOT u.disabled"
        )
        return int(value)

    async def lock_admins(self) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock($1)", _ADMIN_LOCK)

    async def page(self, query: UserQuery) -> UserPage:
        wide = (False, False)
        if query.prefix:
            bounds = (query.prefix, query.prefix + PREFIX_END)
            counts = [await self.conn.fetchval(count_prefix_sql(_DIALECT, k), *bounds) for k in _KEYS]
            wide = (counts[0] >= WIDE, counts[1] >= WIDE)
        sql, args = user_page_sql(query, wide)
        rows = await self.conn.fetch(sql, *args)
        rows, more = rows[: query.limit], len(rows) > query.limit
        two_step = frozenset(r[0] for r in rows if r[-1])  # the last column: page_sql
        return UserPage([user_from_row(r) for r in rows], has_more=more, two_step=two_step)
