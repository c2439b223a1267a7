"""The SQLite implementation: an embedded database for one machine, safe under several worker processes.

WAL mode lets readers run while one writer writes. Each worker holds two connections: a reader, and a writer
used only inside `transaction()`, which serialises its transactions with an asyncio lock and takes SQLite's
write lock up front (`BEGIN IMMEDIATE`) so that two processes never deadlock upgrading a read lock.
Statements run inline on the event loop: a point query costs a few microseconds, less than a hop to a thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from authgate.domain.clock import from_micros as _dt
from authgate.domain.clock import to_micros as _ts
from authgate.domain.keys import StoredKey
from authgate.errors import DatabaseUnavailable, StorageFull
from authgate.storage.base import BrowserSessionStore, ChangeListener, PasskeyStore
from authgate.storage.migrations import load_migrations
from authgate.storage.sqlite_audit import SqliteAudit
from authgate.storage.sqlite_email_tokens import SqliteEmailTokens
from authgate.storage.sqlite_mfa import SqliteMfa
from authgate.storage.sqlite_rows import optional_time
from authgate.storage.sqlite_sessions import SqliteSessions
from authgate.storage.sqlite_users import SqliteUsers


def path_from_url(url: str) -> str:
    """`sqlite:///relative.db` → `relative.db`; `sqlite:////abs/x.db` → `/abs/x.db`."""
    rest = url.removeprefix("sqlite:")
    if rest.startswith("///"):
        return rest[3:]
    if rest.startswith("//"):
        raise ValueError(f"{url!r}: use sqlite:///relative/path or sqlite:////absolute/path")
    return rest


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
            StoredKey(kid=r[0], private_key=r[1], public_key=r[2], created_at=_dt(r[3]), retired_at=optional_time(r[4]))
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

    @property
    def mfa(self) -> SqliteMfa:
        return SqliteMfa(self.users.conn)

    @property
    def passkeys(self) -> PasskeyStore:
        # Imported here, not at the top: the module of its records (domain/passkeys.py) builds on this one.
        from authgate.storage.sqlite_passkeys import SqlitePasskeys

        return SqlitePasskeys(self.users.conn)


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
    writer = transaction  # a rotation is three statements here; the write lock makes them one

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
