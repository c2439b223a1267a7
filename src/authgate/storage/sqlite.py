"""The SQLite implementation: an embedded database for one machine, safe under several worker processes.

WAL mode lets readers run while one writer writes. Each worker holds two connections: a reader, and a writer
used only inside `transaction()`, which serialises its transactions with an asyncio lock and takes SQLite's
write lock up front (`BEGIN IMMEDIATE`) so that two processes never deadlock upgrading a read lock.
Statements run inline on the event loop: a point query costs a few microseconds, less than a hop to a thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from authgate.domain.clock import EPOCH as _EPOCH
from authgate.domain.clock import from_micros as _dt
from authgate.domain.clock import to_micros as _ts
from authgate.domain.keys import StoredKey
from authgate.domain.sessions import RefreshToken, Session
from authgate.domain.users import User
from authgate.errors import DatabaseUnavailable, EmailTaken, StorageFull, UsernameTaken
from authgate.storage.base import BrowserSessionStore, ChangeListener, UserPage, UserQuery
from authgate.storage.migrations import load_migrations
from authgate.storage.sqlite_audit import SqliteAudit
from authgate.storage.sqlite_email_tokens import SqliteEmailTokens
from authgate.storage.userpage import PREFIX_END, WIDE, Dialect, count_prefix_sql, page_sql

_KEYS = ("username_key", "email_key")


def _opt_dt(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def path_from_url(url: str) -> str:
    """`sqlite:///relative.db` → `relative.db`; `sqlite:////abs/x.db` → `/abs/x.db`."""
    rest = url.removeprefix("sqlite:")
    if rest.startswith("///"):
        return rest[3:]
    if rest.startswith("//"):
        raise ValueError(f"{url!r}: use sqlite:///relative/path or sqlite:////absolute/path")
    return rest


_USER_COLUMNS = "id, username, email, password_hash, roles, disabled, email_verified, created_at, updated_at"


def _user(row: tuple) -> User:  # type: ignore[type-arg]
    return User(
        id=row[0],
        username=row[1],
        email=row[2],
        password_hash=row[3],
        roles=tuple(row[4].split(",")) if row[4] else (),
        disabled=bool(row[5]),
        email_verified=bool(row[6]),
        created_at=_dt(row[7]),
        updated_at=_dt(row[8]),
    )


_SESSION_COLUMNS = "s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ended_at, s.user_agent, s.ip"
_JOINED_USER_COLUMNS = ", ".join("u." + c for c in _USER_COLUMNS.split(", "))


def _session(row: tuple) -> Session:  # type: ignore[type-arg]
    return Session(
        id=row[0],
        user_id=row[1],
        created_at=_dt(row[2]),
        last_used_at=_dt(row[3]),
        expires_at=_dt(row[4]),
        ended_at=_opt_dt(row[5]),
        user_agent=row[6],
        ip=row[7],
    )


def _token(row: tuple) -> RefreshToken:  # type: ignore[type-arg]
    return RefreshToken(
        token_hash=row[0],
        session_id=row[1],
        created_at=_dt(row[2]),
        expires_at=_dt(row[3]),
        rotated_at=_opt_dt(row[4]),
        successor_hash=row[5],
    )


def _unique_violation(exc: sqlite3.IntegrityError) -> Exception:
    message = str(exc)
    if "username_key" in message:
        return UsernameTaken()
    if "email_key" in message:
        return EmailTaken()
    return exc


_DIALECT = Dialect("sqlite")


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
        row = self.conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
        return None if row is None else _user(row)

    async def get_by_login(self, key: str) -> User | None:
        row = self.conn.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE username_key = ?1"
            f" UNION ALL SELECT {_USER_COLUMNS} FROM users WHERE email_key = ?1 LIMIT 1",
            (key,),
        ).fetchone()
        return None if row is None else _user(row)

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
        return UserPage([_user(r) for r in rows[: query.limit]], has_more=len(rows) > query.limit)


class SqliteSessions:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def add(self, session: Session, first_token: RefreshToken) -> None:
        self.conn.execute(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)"
            " VALUES (?,?,?,?,?,?,?)",
            (
                session.id,
                session.user_id,
                _ts(session.created_at),
                _ts(session.last_used_at),
                _ts(session.expires_at),
                session.user_agent,
                session.ip,
            ),
        )
        self._add_token(first_token)

    def _add_token(self, token: RefreshToken) -> None:
        self.conn.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?,?,?,?)",
            (token.token_hash, token.session_id, _ts(token.created_at), _ts(token.expires_at)),
        )

    async def get(self, session_id: str) -> Session | None:
        row = self.conn.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.id = ?", (session_id,)).fetchone()
        return None if row is None else _session(row)

    async def get_with_user(self, session_id: str) -> tuple[Session, User] | None:
        row = self.conn.execute(
            f"SELECT {_SESSION_COLUMNS}, {_JOINED_USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.id = ?",
            (session_id,),
        ).fetchone()
        return None if row is None else (_session(row[:8]), _user(row[8:]))

    async def list_for_user(self, user_id: str, now: datetime) -> list[Session]:
        rows = self.conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.user_id = ? AND s.ended_at IS NULL"
            " AND s.expires_at > ? ORDER BY s.created_at DESC",
            (user_id, _ts(now)),
        ).fetchall()
        return [_session(r) for r in rows]

    async def lock_token(self, token_hash: bytes) -> tuple[RefreshToken, Session, User] | None:
        # BEGIN IMMEDIATE already holds the database's write lock: nothing else can rotate meanwhile.
        row = self.conn.execute(
            "SELECT t.token_hash, t.session_id, t.created_at, t.expires_at, t.rotated_at, t.successor_hash,"
            f" {_SESSION_COLUMNS}, {_JOINED_USER_COLUMNS}"
            " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id"
            " WHERE t.token_hash = ?",
            (token_hash,),
        ).fetchone()
        return None if row is None else (_token(row[:6]), _session(row[6:14]), _user(row[14:]))

    async def get_token(self, token_hash: bytes) -> RefreshToken | None:
        row = self.conn.execute(
            "SELECT token_hash, session_id, created_at, expires_at, rotated_at, successor_hash"
            " FROM refresh_tokens WHERE token_hash = ?",
            (token_hash,),
        ).fetchone()
        return None if row is None else _token(row)

    async def rotate(self, old: RefreshToken, new: RefreshToken, now: datetime) -> None:
        self.conn.execute(
            "UPDATE refresh_tokens SET rotated_at = ?, successor_hash = ? WHERE token_hash = ?",
            (_ts(now), new.token_hash, old.token_hash),
        )
        self._add_token(new)
        self.conn.execute("UPDATE sessions SET last_used_at = ? WHERE id = ?", (_ts(now), old.session_id))

    async def end(self, session_id: str, now: datetime) -> bool:
        cur = self.conn.execute(
            "UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (_ts(now), session_id)
        )
        return cur.rowcount > 0

    async def end_all_for_user(self, user_id: str, now: datetime, keep: str | None = None) -> int:
        cur = self.conn.execute(
            "UPDATE sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL AND id IS NOT ?",
            (_ts(now), user_id, keep),
        )
        return cur.rowcount

    async def delete_expired(self, now: datetime) -> int:
        cur = self.conn.execute("DELETE FROM sessions WHERE expires_at <= ?1 OR ended_at <= ?1", (_ts(now),))
        return cur.rowcount

    async def count_active(self, now: datetime) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > ?", (_ts(now),)
        ).fetchone()
        return int(row[0])


class SqliteKeys:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def lock(self) -> None:
        """`BEGIN IMMEDIATE` already serialises every writer of the database."""

    async def list(self) -> list[StoredKey]:
        rows = self.conn.execute(
            "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at"
        ).fetchall()
        return [
            StoredKey(kid=r[0], private_key=r[1], public_key=r[2], created_at=_dt(r[3]), retired_at=_opt_dt(r[4]))
            for r in rows
        ]

    async def add(self, key: StoredKey) -> None:
        self.conn.execute(
            "INSERT INTO signing_keys (kid, private_key, public_key, created_at, retired_at) VALUES (?,?,?,?,?)",
            (
                key.kid,
                key.private_key,
                key.public_key,
                _ts(key.created_at),
                None if key.retired_at is None else _ts(key.retired_at),
            ),
        )

    async def retire(self, kid: str, at: datetime) -> None:
        self.conn.execute("UPDATE signing_keys SET retired_at = ? WHERE kid = ?", (_ts(at), kid))

    async def get_secret(self, name: str) -> bytes | None:
        row = self.conn.execute("SELECT value FROM server_secrets WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    async def add_secret(self, name: str, value: bytes, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO server_secrets (name, value, created_at) VALUES (?,?,?)", (name, value, _ts(now))
        )


class SqliteStores:
    __slots__ = ("audit", "keys", "sessions", "users")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.users = SqliteUsers(conn)
        self.sessions = SqliteSessions(conn)
        self.keys = SqliteKeys(conn)
        self.audit = SqliteAudit(conn)

    @property
    def browser_sessions(self) -> BrowserSessionStore:
        # Imported here, not at the top: that module builds on this one.
        from authgate.storage.sqlite_browser_sessions import SqliteBrowserSessions

        return SqliteBrowserSessions(self.users.conn)

    @property
    def email_tokens(self) -> SqliteEmailTokens:
        return SqliteEmailTokens(self.users.conn)


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, url: str, busy_timeout_ms: int = 5000) -> None:
        self.path = path_from_url(url)
        self.busy_timeout_ms = busy_timeout_ms
        self._lock = asyncio.Lock()
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_stores: SqliteStores | None = None
        self._read_stores: SqliteStores | None = None

    def _open(self) -> sqlite3.Connection:
        if self.path not in ("", ":memory:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def connect(self) -> None:
        if self._writer is not None:
            return
        try:
            self._writer = self._open()
            self._reader = self._open()
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open {self.path}: {exc}") from exc
        self._write_stores = SqliteStores(self._writer)
        self._read_stores = SqliteStores(self._reader)

    async def close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._writer = self._reader = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteStores]:
        assert self._writer is not None and self._write_stores is not None, "connect() first"
        async with self._lock:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise DatabaseUnavailable(str(exc)) from exc
            try:
                yield self._write_stores
            except BaseException as exc:
                if self._writer.in_transaction:  # SQLite may have rolled back already (a full disk does)
                    self._writer.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                    raise StorageFull() from exc
                raise
            try:
                self._writer.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                    raise StorageFull() from exc
                raise DatabaseUnavailable(str(exc)) from exc

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[SqliteStores]:
        assert self._read_stores is not None, "connect() first"
        try:
            yield self._read_stores
        except sqlite3.OperationalError as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    replica = reader

    def change_feed(self, listener: ChangeListener) -> None:
        """None: SQLite tells no one of changes, so a worker on it keeps no session cache (its lookups cost
        microseconds anyway)."""
        return None

    async def ping(self) -> None:
        async with self.reader() as _:
            assert self._reader is not None
            self._reader.execute("SELECT 1").fetchone()

    def _applied(self, conn: sqlite3.Connection) -> set[int]:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at INTEGER NOT NULL)"
        )
        return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}

    async def pending_migrations(self) -> list[str]:
        assert self._reader is not None
        exists = self._reader.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        done = {r[0] for r in self._reader.execute("SELECT version FROM schema_migrations")} if exists else set()
        return [m.name for m in load_migrations(self.dialect) if m.version not in done]

    async def migrate(self) -> list[str]:
        assert self._writer is not None
        applied: list[str] = []
        async with self._lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                done = self._applied(conn)
                for migration in load_migrations(self.dialect):
                    if migration.version in done:
                        continue
                    for statement in _statements(migration.sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        (migration.version, migration.name, _ts(datetime.now(UTC))),
                    )
                    applied.append(migration.name)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return applied


def _statements(sql: str) -> Iterable[str]:
    """Split a migration into statements; a trigger's body (`BEGIN ...; ...; END;`) stays one statement."""
    statements: list[str] = []
    current = ""
    for line in sql.splitlines():
        if line.lstrip().startswith("--"):
            continue
        current += line + "\n"
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
