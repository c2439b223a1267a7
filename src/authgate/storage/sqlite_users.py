"""The users in SQLite (see `storage/base.py`, `UserStore`); bound to the connection of a `SqliteStores`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from authgate.domain.clock import to_micros as _ts
from authgate.domain.users import User
from authgate.errors import EmailTaken, UsernameTaken
from authgate.storage.base import UserPage, UserQuery
from authgate.storage.sqlite_rows import USER_COLUMNS, USER_WIDTH, user_from_row
from authgate.storage.userpage import PREFIX_END, WIDE, Dialect, count_prefix_sql, page_sql, two_step_sql

_KEYS = ("username_key", "email_key")


def _unique_violation(exc: sqlite3.IntegrityError) -> Exception:
    message = str(exc)
    if "username_key" in message:
        return UsernameTaken()
    if "email_key" in message:
        return EmailTaken()
    return exc


_DIALECT = Dialect("sqlite")
# The user a login names, with whether two-step login is on for them (see `UserStore.get_for_login`).
_TWO_STEP = two_step_sql("users")
_GET_FOR_LOGIN = (
    f"SELECT {USER_COLUMNS}, {_TWO_STEP} FROM users WHERE username_key = ?1"
    f" UNION ALL SELECT {USER_COLUMNS}, {_TWO_STEP} FROM users WHERE email_key = ?1 LIMIT 1"
)


def user_page_sql(query: UserQuery, wide: tuple[bool, bool] = (False, False)) -> tuple[str, list[object]]:
    """The statement and arguments of `page()` (a function, so that the scale check can EXPLAIN it)."""
    return page_sql(_DIALECT, query, wide)


class SqliteUsers:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def add(self, user: User) -> None:
        try:
            self.conn.execute(
                "INSERT INTO users (id, username, username_key, email, email_key, password_hash, roles,"
                " disabled, email_verified, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    user.id,
                    user.username,
                    user.username_key,
                    user.email,
                    user.email_key,
                    user.password_hash,
                    ",".join(user.roles),
                    int(user.disabled),
                    int(user.email_verified),
                    _ts(user.created_at),
                    _ts(user.updated_at),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise _unique_violation(exc) from None

    async def add_many(self, users: Sequence[User]) -> list[str]:
        inserted: list[str] = []
        for user in users:
            cur = self.conn.execute(
                "INSERT INTO users (id, username, username_key, email, email_key, password_hash, roles,"
                " disabled, email_verified, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT DO NOTHING",
                (
                    user.id,
                    user.username,
                    user.username_key,
                    user.email,
                    user.email_key,
                    user.password_hash,
                    ",".join(user.roles),
                    int(user.disabled),
                    int(user.email_verified),
                    _ts(user.created_at),
                    _ts(user.updated_at),
                ),
            )
            if cur.rowcount > 0:
                inserted.append(user.id)
        return inserted

    async def get(self, user_id: str) -> User | None:
        row = self.conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
        return None if row is None else user_from_row(row)

    async def get_by_login(self, key: str) -> User | None:
        row = self.conn.execute(
            f"SELECT {USER_COLUMNS} FROM users WHERE username_key = ?1"
            f" UNION ALL SELECT {USER_COLUMNS} FROM users WHERE email_key = ?1 LIMIT 1",
            (key,),
        ).fetchone()
        return None if row is None else user_from_row(row)

    async def get_for_login(self, key: str) -> tuple[User, bool] | None:
        row = self.conn.execute(_GET_FOR_LOGIN, (key,)).fetchone()
        return None if row is None else (user_from_row(row), bool(row[USER_WIDTH]))

    async def update(self, user: User) -> None:
        try:
            self.conn.execute(
                "UPDATE users SET username = ?, username_key = ?, email = ?, email_key = ?, password_hash = ?,"
                " roles = ?, disabled = ?, email_verified = ?, updated_at = ? WHERE id = ?",
                (
                    user.username,
                    user.username_key,
                    user.email,
                    user.email_key,
                    user.password_hash,
                    ",".join(user.roles),
                    int(user.disabled),
                    int(user.email_verified),
                    _ts(user.updated_at),
                    user.id,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise _unique_violation(exc) from None

    async def delete(self, user_id: str) -> bool:
        return self.conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0

    async def count_admins(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM user_roles r JOIN users u ON u.id = r.user_id WHERE r.role = 'admin'"
            " AND u.disabled = 0"
        ).fetchone()
        return int(row[0])

    async def lock_admins(self) -> None:
        """`BEGIN IMMEDIATE` already serialises every writer of the database."""

    async def page(self, query: UserQuery) -> UserPage:
        wide = (False, False)
        if query.prefix:
            bounds = (query.prefix, query.prefix + PREFIX_END)
            counts = [self.conn.execute(count_prefix_sql(_DIALECT, k), bounds).fetchone()[0] for k in _KEYS]
            wide = (counts[0] >= WIDE, counts[1] >= WIDE)
        sql, args = user_page_sql(query, wide)
        rows = self.conn.execute(sql, args).fetchall()
        rows, more = rows[: query.limit], len(rows) > query.limit
        two_step = frozenset(r[0] for r in rows if r[-1])  # the last column: page_sql
        return UserPage([user_from_row(r) for r in rows], has_more=more, two_step=two_step)
