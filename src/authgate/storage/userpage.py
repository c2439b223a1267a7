"""The SQL of one keyset page of users (`UserStore.page`), shared by the SQLite and PostgreSQL stores.

Without `q`, a page is a range scan of the index of its sort order: `users (created_at, id)`, `users
(username_key)`, or, with a role, `user_roles (role, created_at, user_id)` / `(role, username_key)`. Its cost is
the page size, however deep the page and however large the table.

`q` matches a prefix of the username key or of the email key. Each of the two is answered by whichever plan is
cheap for its selectivity, decided per page from a capped count on the key's index (`WIDE` rows or more):

- narrow: a range scan of the key's unique index, then a sort of the matches (at most about `WIDE` rows);
- wide: the sort order's index, keeping the rows whose key starts with the prefix; with at least `WIDE`
  matches among N users, a page reads about (limit + 1) * N / `WIDE` rows.

The two halves are merged with UNION (a user matching both comes once). A database planner cannot make this
choice itself: neither knows how many keys share a given prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from authgate.domain.clock import EPOCH as _EPOCH
from authgate.storage.base import UserQuery

WIDE = 2000
"""A prefix with this many matching keys is scanned in sort order instead of being sorted."""
PREFIX_END = "\U0010ffff"
USER_COLUMNS = [
    "id",
    "username",
    "email",
    "password_hash",
    "roles",
    "disabled",
    "email_verified",
    "created_at",
    "updated_at",
]


def two_step_sql(users: str) -> str:
    """Whether two-step login is on for the row of `users` (the table's name or alias): it has a confirmed
    authenticator. One probe of the primary key of `totp_factors`."""
    return f"EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = {users}.id AND f.confirmed_at IS NOT NULL)"


class Dialect:
    def __init__(self, name: str) -> None:
        self.name = name

    def placeholders(self) -> tuple[list[object], Callable[[object], str]]:
        args: list[object] = []

        def arg(value: object) -> str:
            args.append(value)
            return f"?{len(args)}" if self.name == "sqlite" else f"${len(args)}"

        return args, arg

    def stamp(self, micros: str) -> object:
        return int(micros) if self.name == "sqlite" else _EPOCH + timedelta(microseconds=int(micros))

    def uuid(self, placeholder: str) -> str:
        return placeholder if self.name == "sqlite" else f"{placeholder}::uuid"


def count_prefix_sql(dialect: Dialect, key: str) -> str:
    """How many keys start with the prefix, counting no further than WIDE (an index-only range scan)."""
    p, q = ("?1", "?2") if dialect.name == "sqlite" else ("$1", "$2")
    return f"SELECT count(*) FROM (SELECT 1 FROM users WHERE {key} >= {p} AND {key} < {q} LIMIT {WIDE}) AS m"


def page_sql(dialect: Dialect, query: UserQuery, wide: tuple[bool, bool] = (False, False)) -> tuple[str, list[object]]:
    """The statement and its arguments; `wide` tells, for the username and the email key, whether the
    prefix is wide (see the module's docstring). The rows are USER_COLUMNS, the username key, then whether
    two-step login is on: probed for the page's rows only, once they are chosen."""
    args, arg = dialect.placeholders()
    page = _page(dialect, query, wide, arg)
    return f"SELECT p.*, {two_step_sql('p')} FROM ({page}) AS p ORDER BY {_order(query, 'p.')}", args


def _page(dialect: Dialect, query: UserQuery, wide: tuple[bool, bool], arg: Callable[[object], str]) -> str:
    if not query.prefix:
        return _branch(dialect, query, arg, None)
    # Sorted by username, the username index both finds and orders the username matches: never "wide".
    username_wide = wide[0] and query.sort != "username"
    halves = [
        _branch(dialect, query, arg, (key, is_wide))
        for key, is_wide in (("username_key", username_wide), ("email_key", wide[1]))
    ]
    order = _order(query, "")
    limit = arg(query.limit + 1)
    return f"SELECT * FROM ({halves[0]}) AS a UNION SELECT * FROM ({halves[1]}) AS b ORDER BY {order} LIMIT {limit}"


def _order(query: UserQuery, table: str) -> str:
    if query.sort == "username":
        return f"{table}username_key"
    direction = " DESC" if query.sort == "-created_at" else ""
    return f"{table}created_at{direction}, {table}id{direction}"


def _branch(dialect: Dialect, query: UserQuery, arg: Callable[[object], str], match: tuple[str, bool] | None) -> str:
    """One SELECT ... ORDER BY ... LIMIT: every user of the listing, or those whose `match` key has the prefix."""
    where: list[str] = []
    # Scanning in sort order: with a role, the sort columns come from user_roles, whose indexes hold them.
    by_role = bool(query.role) and (match is None or match[1])
    if by_role:
        source, sort_table, ident = "user_roles r JOIN users u ON u.id = r.user_id", "r.", "r.user_id"
        where.append(f"r.role = {arg(query.role)}")
    else:
        source, sort_table, ident = "users u", "u.", "u.id"
        if query.role:
            where.append(f"EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = {arg(query.role)})")
    if match is not None:
        key, is_wide = match
        prefix = arg(query.prefix)
        if is_wide:  # an expression no index serves: the sort order's index drives the scan
            where.append(f"substr(u.{key}, 1, length({prefix})) = {prefix}")
        else:
            where.append(f"u.{key} >= {prefix} AND u.{key} < {arg(f'{query.prefix}{PREFIX_END}')}")
    if query.after:
        if query.sort == "username":
            where.append(f"{sort_table}username_key > {arg(query.after[0])}")
        else:
            op = "<" if query.sort == "-created_at" else ">"
            stamp, last = arg(dialect.stamp(query.after[0])), dialect.uuid(arg(query.after[1]))
            where.append(f"({sort_table}created_at, {ident}) {op} ({stamp}, {last})")
    columns = ", ".join(f"u.{c}" for c in USER_COLUMNS) + ", u.username_key"
    order = _order(query, sort_table).replace(f"{sort_table}id", ident)
    sql = f"SELECT {columns} FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return f"{sql} ORDER BY {order} LIMIT {arg(query.limit + 1)}"
