"""The PostgreSQL implementation, on an asyncpg connection pool (prepared statements are cached per connection).

Reads that tolerate replication lag (`replica()`) go to the replicas when `AUTHGATE_DATABASE_REPLICA_URLS`
names some, round-robin; everything else goes to the primary. A lost or refused connection becomes
`DatabaseUnavailable` (503), and the pool reconnects by itself once the server is back.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from authgate.domain.keys import StoredKey
from authgate.domain.sessions import RefreshToken, Session
from authgate.domain.users import User
from authgate.errors import AuthgateError, DatabaseUnavailable, EmailTaken, UsernameTaken
from authgate.storage.base import BrowserSessionStore, ChangeFeed, ChangeListener, UserPage, UserQuery
from authgate.storage.migrations import load_migrations
from authgate.storage.pgpool import ConnectionPool
from authgate.storage.postgres_audit import PostgresAudit
from authgate.storage.postgres_email_tokens import PostgresEmailTokens
from authgate.storage.userpage import PREFIX_END, WIDE, Dialect, count_prefix_sql, page_sql

_MIGRATION_LOCK = 0x61757468  # "auth": advisory lock id for migrations
_KEY_LOCK = 0x6B657973  # "keys": advisory lock id for key creation and rotation
_ADMIN_LOCK = 0x61646D6E  # "admn": advisory lock id for changes that may remove an admin
_KEYS = ("username_key", "email_key")

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

_USER_COLUMNS = "id, username, email, password_hash, roles, disabled, email_verified, created_at, updated_at"
_SESSION_COLUMNS = "s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ended_at, s.user_agent, s.ip"
_JOINED_USER_COLUMNS = ", ".join("u." + c for c in _USER_COLUMNS.split(", "))


def _user(row: Any, at: int = 0) -> User:
    return User(
        id=row[at],
        username=row[at + 1],
        email=row[at + 2],
        password_hash=row[at + 3],
        roles=tuple(row[at + 4]),
        disabled=row[at + 5],
        email_verified=row[at + 6],
        created_at=row[at + 7],
        updated_at=row[at + 8],
    )


def _session(row: Any, at: int = 0) -> Session:
    return Session(
        id=row[at],
        user_id=row[at + 1],
        created_at=row[at + 2],
        last_used_at=row[at + 3],
        expires_at=row[at + 4],
        ended_at=row[at + 5],
        user_agent=row[at + 6],
        ip=row[at + 7],
    )


def _token(row: Any) -> RefreshToken:
    return RefreshToken(
        token_hash=row[0],
        session_id=row[1],
        created_at=row[2],
        expires_at=row[3],
        rotated_at=row[4],
        successor_hash=row[5],
    )


def _unique_violation(exc: Exception) -> Exception:
    constraint = str(getattr(exc, "constraint_name", "") or "")
    if "username_key" in constraint:
        return UsernameTaken()
    if "email_key" in constraint:
        return EmailTaken()
    return exc


_DIALECT = Dialect("postgres")


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
        row = await self.conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1::uuid", user_id)
        return None if row is None else _user(row)

    async def get_by_login(self, key: str) -> User | None:
        row = await self.conn.fetchrow(
            f"(SELECT {_USER_COLUMNS} FROM users WHERE username_key = $1)"
            f" UNION ALL (SELECT {_USER_COLUMNS} FROM users WHERE email_key = $1) LIMIT 1",
            key,
        )
        return None if row is None else _user(row)

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
        return UserPage([_user(r) for r in rows[: query.limit]], has_more=len(rows) > query.limit)


class PostgresSessions:
    def __init__(self, conn: asyncpg.Connection, changed: set[str]) -> None:
        self.conn = conn
        self._changed = changed

    async def add(self, session: Session, first_token: RefreshToken) -> None:
        await self.conn.execute(
            "WITH s AS (INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7))"
            " INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($8,$1,$9,$10)",
            session.id,
            session.user_id,
            session.created_at,
            session.last_used_at,
            session.expires_at,
            session.user_agent,
            session.ip,
            first_token.token_hash,
            first_token.created_at,
            first_token.expires_at,
        )

    async def get(self, session_id: str) -> Session | None:
        row = await self.conn.fetchrow(f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.id = $1::uuid", session_id)
        return None if row is None else _session(row)

    async def get_with_user(self, session_id: str) -> tuple[Session, User] | None:
        row = await self.conn.fetchrow(
            f"SELECT {_SESSION_COLUMNS}, {_JOINED_USER_COLUMNS}"
            " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1::uuid",
            session_id,
        )
        return None if row is None else (_session(row), _user(row, 8))

    async def list_for_user(self, user_id: str, now: datetime) -> list[Session]:
        rows = await self.conn.fetch(
            f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.user_id = $1::uuid AND s.ended_at IS NULL"
            " AND s.expires_at > $2 ORDER BY s.created_at DESC",
            user_id,
            now,
        )
        return [_session(r) for r in rows]

    async def lock_token(self, token_hash: bytes) -> tuple[RefreshToken, Session, User] | None:
        row = await self.conn.fetchrow(
            "SELECT t.token_hash, t.session_id, t.created_at, t.expires_at, t.rotated_at, t.successor_hash,"
            f" {_SESSION_COLUMNS}, {_JOINED_USER_COLUMNS}"
            " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id"
            " WHERE t.token_hash = $1 FOR UPDATE OF t",
            token_hash,
        )
        return None if row is None else (_token(row), _session(row, 6), _user(row, 14))

    async def get_token(self, token_hash: bytes) -> RefreshToken | None:
        row = await self.conn.fetchrow(
            "SELECT token_hash, session_id, created_at, expires_at, rotated_at, successor_hash"
            " FROM refresh_tokens WHERE token_hash = $1",
            token_hash,
        )
        return None if row is None else _token(row)

    async def rotate(self, old: RefreshToken, new: RefreshToken, now: datetime) -> None:
        await self.conn.execute(
            "WITH r AS (UPDATE refresh_tokens SET rotated_at = $1, successor_hash = $2 WHERE token_hash = $3),"
            " t AS (INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)"
            " VALUES ($2, $4, $5, $6))"
            " UPDATE sessions SET last_used_at = $1 WHERE id = $4",
            now,
            new.token_hash,
            old.token_hash,
            new.session_id,
            new.created_at,
            new.expires_at,
        )

    async def end(self, session_id: str, now: datetime) -> bool:
        user_id = await self.conn.fetchval(
            "UPDATE sessions SET ended_at = $1 WHERE id = $2::uuid AND ended_at IS NULL RETURNING user_id",
            now,
            session_id,
        )
        if user_id is None:
            return False
        self._changed.add(user_id)
        return True

    async def end_all_for_user(self, user_id: str, now: datetime, keep: str | None = None) -> int:
        self._changed.add(user_id)
        status = await self.conn.execute(
            "UPDATE sessions SET ended_at = $1 WHERE user_id = $2::uuid AND ended_at IS NULL"
            " AND id IS DISTINCT FROM $3::uuid",
            now,
            user_id,
            keep,
        )
        return int(status.rsplit(" ", 1)[1])

    async def delete_expired(self, now: datetime) -> int:
        status = await self.conn.execute("DELETE FROM sessions WHERE expires_at <= $1 OR ended_at <= $1", now)
        return int(status.rsplit(" ", 1)[1])

    async def count_active(self, now: datetime) -> int:
        value = await self.conn.fetchval(
            "SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > $1", now
        )
        return int(value)


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


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Ids travel as strings through the domain; let PostgreSQL's uuid type do the parsing.
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog", format="text")


class _Use:
    """`async with db.reader()` or `db.transaction()`: a pooled connection, as the stores bound to it.

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
            conn = await asyncpg.connect(url, command_timeout=10, timeout=self.acquire_timeout)
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

    @asynccontextmanager
    async def replica(self) -> AsyncIterator[PostgresStores]:
        pool = self._replicas[next(self._next_replica) % len(self._replicas)] if self._replicas else self._primary
        try:
            async with _Use(pool, transaction=False) as stores:
                yield stores
        except asyncpg.UndefinedTableError as exc:
            # A replica that has not replayed the migrations yet (a new cluster, or one far behind).
            raise DatabaseUnavailable("The read replica is not ready") from exc

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
