"""The PostgreSQL implementation, on an asyncpg connection pool (prepared statements are cached per connection).

Reads that tolerate replication lag (`replica()`) go to the replicas when `AUTHGATE_DATABASE_REPLICA_URLS`
names some, round-robin; everything else goes to the primary. A lost or refused connection becomes
`DatabaseUnavailable` (503), and the pool reconnects by itself once the server is back.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import asyncpg

from authgate.domain.keys import StoredKey
from authgate.errors import AuthgateError, DatabaseUnavailable
from authgate.storage.base import BrowserSessionStore, ChangeFeed, ChangeListener, PasskeyStore
from authgate.storage.migrations import load_migrations
from authgate.storage.pgpool import ConnectionPool
from authgate.storage.postgres_audit import PostgresAudit
from authgate.storage.postgres_email_tokens import PostgresEmailTokens
from authgate.storage.postgres_mfa import PostgresMfa
from authgate.storage.postgres_sessions import PostgresSessions
from authgate.storage.postgres_users import PostgresUsers

_MIGRATION_LOCK = 0x61757468  # "auth": advisory lock id for migrations
_KEY_LOCK = 0x6B657973  # "keys": advisory lock id for key creation and rotation

_CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    # A connection the server ended while it was idle in the pool: asyncpg read the server's last word but not
    # yet the closed socket, and refuses to use it.
    asyncpg.InternalClientError,
)


class PostgresKeys:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock(self) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock($1)", _KEY_LOCK)

    async def list(self) -> list[StoredKey]:
        rows = await self.conn.fetch(
            "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at"
        )
        return [StoredKey(kid=r[0], private_key=r[1], public_key=r[2], created_at=r[3], retired_at=r[4]) for r in rows]

    async def add(self, key: StoredKey) -> None:
        await self.conn.execute(
            "INSERT INTO signing_keys (kid, private_key, public_key, created_at, retired_at) VALUES ($1,$2,$3,$4,$5)",
            key.kid,
            key.private_key,
            key.public_key,
            key.created_at,
            key.retired_at,
        )

    async def retire(self, kid: str, at: datetime) -> None:
        await self.conn.execute("UPDATE signing_keys SET retired_at = $1 WHERE kid = $2", at, kid)

    async def get_secret(self, name: str) -> bytes | None:
        value = await self.conn.fetchval("SELECT value FROM server_secrets WHERE name = $1", name)
        return None if value is None else bytes(value)

    async def add_secret(self, name: str, value: bytes, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)", name, value, now
        )


class PostgresStores:
    __slots__ = ("audit", "changed_users", "keys", "sessions", "users")

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.changed_users: set[str] = set()
        """Users whose account or sessions this transaction changed: forgotten by this worker's session cache
        as it commits (the triggers of migration 0007 tell the other workers)."""
        self.users = PostgresUsers(conn, self.changed_users)
        self.sessions = PostgresSessions(conn, self.changed_users)
        self.keys = PostgresKeys(conn)
        self.audit = PostgresAudit(conn)

    @property
    def browser_sessions(self) -> BrowserSessionStore:
        # Imported here, not at the top: that module builds on this one.
        from authgate.storage.postgres_browser_sessions import PostgresBrowserSessions

        return PostgresBrowserSessions(self.users.conn)

    @property
    def email_tokens(self) -> PostgresEmailTokens:
        """Made when asked for, so that the transactions that do not use it (every request) do not pay for it."""
        return PostgresEmailTokens(self.users.conn)

    @property
    def mfa(self) -> PostgresMfa:
        return PostgresMfa(self.users.conn)

    @property
    def passkeys(self) -> PasskeyStore:
        # Imported here, not at the top: the module of its records (domain/passkeys.py) builds on this one.
        from authgate.storage.postgres_passkeys import PostgresPasskeys

        return PostgresPasskeys(self.users.conn)


# Every connection speaks ISO dates in UTC, so that timestamps can travel as text (see `_init_connection`).
_SERVER_SETTINGS = {"DateStyle": "ISO", "TimeZone": "UTC"}
_INFINITIES = {"infinity": datetime.max.replace(tzinfo=UTC), "-infinity": datetime.min.replace(tzinfo=UTC)}


def _decode_timestamptz(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)  # "2026-12-06 06:50:16.028792+00"
    except ValueError:
        return _INFINITIES[text]  # as asyncpg's own codec made them (years BC, never written here, would fail)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Ids travel as strings through the domain; let PostgreSQL's uuid type do the parsing.
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog", format="text")
    # Timestamps as text too: datetime.fromisoformat (C) makes one in a third less time than asyncpg's binary
    # decoder (epoch + timedelta, then tzinfo), 0.4 µs less a value, 40 µs less a page of 50 users.
    await conn.set_type_codec(
        "timestamptz", encoder=str, decoder=_decode_timestamptz, schema="pg_catalog", format="text"
    )


class _Use:
    """`async with db.reader()` (or `db.writer()`) or `db.transaction()`: a pooled connection, as the stores
    bound to it.

    A class rather than an `@asynccontextmanager` generator: it is entered on every request. A lost connection
    (or a wait for one past the pool's timeout) becomes DatabaseUnavailable; a connection whose state is unknown
    after an error is closed, not reused. Nothing else is undone on the way back to the pool: every lock this
    code takes is a transaction lock (`pg_advisory_xact_lock`), and nothing SETs, LISTENs or keeps a cursor on
    a pooled connection. Once what it did is committed, the users it changed are reported (`changed`)."""

    __slots__ = ("_changed", "_conn", "_pool", "_stores", "_transaction")

    def __init__(self, pool: ConnectionPool, transaction: bool, changed: ChangeListener | None = None) -> None:
        self._pool = pool
        self._transaction = transaction
        self._changed = changed
        self._conn: asyncpg.Connection | None = None
        self._stores: PostgresStores | None = None

    async def __aenter__(self) -> PostgresStores:
        try:
            conn = await self._pool.acquire()
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable() from exc
        if self._transaction:
            try:
                await conn.execute("BEGIN")
            except BaseException as exc:
                self._pool.release(conn, broken=True)
                if isinstance(exc, _CONNECTION_ERRORS):
                    raise DatabaseUnavailable() from exc
                raise
        self._conn = conn
        self._stores = stores = PostgresStores(conn)
        return stores

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        conn = self._conn
        assert conn is not None
        self._conn = None
        # An error of the statement (a unique violation...) leaves the connection usable; anything else (lost
        # connection, among them the server's own "terminating connection", timeout, cancellation) may leave a
        # statement half done on it.
        broken = exc is not None and (
            isinstance(exc, _CONNECTION_ERRORS) or not isinstance(exc, asyncpg.PostgresError | AuthgateError)
        )
        try:
            if self._transaction and not broken:
                await conn.execute("COMMIT" if exc is None else "ROLLBACK")
        except BaseException as end_exc:
            broken = True
            if isinstance(end_exc, _CONNECTION_ERRORS):
                raise DatabaseUnavailable() from end_exc
            raise
        finally:
            self._pool.release(conn, broken=broken)
        if isinstance(exc, _CONNECTION_ERRORS):
            raise DatabaseUnavailable() from exc
        stores, self._stores = self._stores, None
        if exc is None and self._changed is not None and stores is not None:
            for user_id in stores.changed_users:
                self._changed.forget_user(user_id)


class _ReplicaUse(_Use):
    """`db.replica()` on a replica: as `_Use`, and a replica that has not replayed the migrations yet (a new
    cluster, or one far behind) is unavailable rather than an error."""

    __slots__ = ()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        await super().__aexit__(exc_type, exc, tb)
        if isinstance(exc, asyncpg.UndefinedTableError):
            raise DatabaseUnavailable("The read replica is not ready") from exc


class PostgresDatabase:
    dialect = "postgres"

    def __init__(
        self, url: str, *, replica_urls: tuple[str, ...] = (), pool_size: int = 10, acquire_timeout: float = 5.0
    ) -> None:
        """`acquire_timeout`: how long a request may wait for a free connection before it is answered 503."""
        self.url = url
        self.replica_urls = replica_urls
        self.pool_size = pool_size
        self.acquire_timeout = acquire_timeout
        self._pool: ConnectionPool | None = None
        self._replicas: list[ConnectionPool] = []
        self._next_replica = itertools.count()
        self._listener: ChangeListener | None = None
        """Told, as a transaction of this process commits, which users' accounts or sessions it changed."""

    def _new_pool(self, url: str) -> ConnectionPool:
        async def connect() -> asyncpg.Connection:
            # As bounded as a wait for a free connection: a server that takes the connection and then says nothing
            # (hung) would otherwise hold the request for asyncpg's default connect timeout of 60 s.
            conn = await asyncpg.connect(
                url, command_timeout=10, timeout=self.acquire_timeout, server_settings=_SERVER_SETTINGS
            )
            try:
                async with asyncio.timeout(self.acquire_timeout):
                    await _init_connection(conn)
            except BaseException:
                conn.terminate()
                raise
            return conn

        return ConnectionPool(connect, max_size=self.pool_size, acquire_timeout=self.acquire_timeout, idle_lifetime=300)

    async def connect(self) -> None:
        if self._pool is not None:
            return
        pools = [self._new_pool(u) for u in (self.url, *self.replica_urls)]
        try:
            for pool in pools:
                await pool.open()
        except _CONNECTION_ERRORS as exc:
            for pool in pools:
                await pool.close()
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        self._pool, *self._replicas = pools

    async def close(self) -> None:
        for pool in [self._pool, *self._replicas]:
            if pool is not None:
                await pool.close()
        self._pool = None
        self._replicas = []

    @property
    def _primary(self) -> ConnectionPool:
        assert self._pool is not None, "connect() first"
        return self._pool

    def transaction(self) -> _Use:
        return _Use(self._primary, True, self._listener)

    def reader(self) -> _Use:
        return _Use(self._primary, False, self._listener)

    writer = reader  # autocommit: every statement commits on its own

    def replica(self) -> _Use:
        if not self._replicas:
            return _Use(self._primary, False)
        return _ReplicaUse(self._replicas[next(self._next_replica) % len(self._replicas)], False)

    def change_feed(self, listener: ChangeListener) -> ChangeFeed:
        from authgate.storage.postgres_changes import PostgresChangeFeed

        self._listener = listener
        return PostgresChangeFeed(self.url, listener)

    async def ping(self) -> None:
        async with self.reader() as stores:
            await stores.users.conn.fetchval("SELECT 1")

    async def pending_migrations(self) -> list[str]:
        async with self.reader() as stores:
            conn = stores.users.conn
            exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
            done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")} if exists else set()
        return [m.name for m in load_migrations(self.dialect) if m.version not in done]

    async def migrate(self) -> list[str]:
        applied: list[str] = []
        async with self.transaction() as stores:
            conn = stores.users.conn
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in load_migrations(self.dialect):
                if migration.version in done:
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
                applied.append(migration.name)
        return applied
