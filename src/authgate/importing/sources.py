"""Where imported users come from: a JSON Lines file, or a table of another system's SQLite or PostgreSQL database.

Each source yields the records in chunks, each record with its position (the line number, or the value of the
id column) so that a report can point at it. A record the source cannot read (a line that is not JSON, a
column that is NULL) is yielded as a `Rejection` in its place; the others go on.

The table and column names are the operator's; they are quoted as SQL identifiers (`"name"`, with `"` doubled),
never checked against a pattern, and no value is ever formatted into SQL. A table may be `schema.table`.
The source database is only read: SQLite is opened read-only, PostgreSQL in a read-only transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote

import msgspec

from authgate.domain.importer import ImportRecord, Item, Position, Rejection, shown

MAX_LINE_BYTES: Final = 64 * 1024
"""A longer line is rejected unread: a record is a few hundred bytes."""


class SourceError(Exception):
    """The source cannot be read at all (no such file, table or column; cannot connect)."""


class Source(Protocol):
    position_name: str
    """What a position is, for reports: "line" or "id"."""
    has_email: bool
    """Whether the records can carry an email address (a table may have no email column)."""

    async def count(self) -> int:
        """How many records there are (for the progress bar)."""

    def chunks(self, size: int) -> AsyncIterator[list[Item]]: ...

    async def close(self) -> None: ...


class TableMapping(msgspec.Struct, frozen=True, kw_only=True):
    """Which table and columns hold the users. The defaults fit a Flask-SQLAlchemy `User` model."""

    table: str = "user"
    id_column: str = "id"
    username_column: str = "username"
    password_column: str = "password_hash"  # noqa: S105 (a column name)
    email_column: str = "email"
    email_required: bool = False
    """False: a missing email column means the table has no emails (the default name need not exist)."""


async def open_source(location: str, mapping: TableMapping) -> Source:
    """`sqlite:///path.db`, `postgresql://...` (or `postgres://`), or else the path of a JSON Lines file."""
    source: Source
    if location.startswith("sqlite:"):
        source = SqliteSource(location, mapping)
    elif location.startswith(("postgresql://", "postgres://")):
        source = await PostgresSource.connect(location, mapping)
    else:
        source = JsonLinesSource(Path(location))
    return source


# -- JSON Lines ------------------------------------------------------------------------------------------------


class _Named(msgspec.Struct):
    username: str = ""


_record = msgspec.json.Decoder(ImportRecord)
_named = msgspec.json.Decoder(_Named)


def decode_line(line: bytes) -> ImportRecord | Rejection:
    """One line of a JSON Lines file: `{"username", "email", "password_hash", "roles"?, "created_at"?}`."""
    if len(line) > MAX_LINE_BYTES:
        return Rejection("malformed_record", f"the line is longer than {MAX_LINE_BYTES} bytes")
    try:
        return _record.decode(line)
    except msgspec.ValidationError as exc:
        return Rejection("malformed_record", str(exc), _username_of(line))
    except (msgspec.DecodeError, UnicodeDecodeError):
        return Rejection("malformed_record", "the line is not a JSON object (UTF-8)")
    except RecursionError:
        return Rejection("malformed_record", "the line is nested too deeply")


def _username_of(line: bytes) -> str:
    try:
        return shown(_named.decode(line).username)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return ""


class JsonLinesSource:
    position_name = "line"
    has_email = True

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = path.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None

    async def count(self) -> int:
        with self.path.open("rb") as f:
            return sum(1 for line in f if line.strip())

    async def chunks(self, size: int) -> AsyncIterator[list[Item]]:
        chunk: list[Item] = []
        for number, line in enumerate(self._file, 1):
            if not line.strip():
                continue
            chunk.append((number, decode_line(line)))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def close(self) -> None:
        self._file.close()


# -- database tables -------------------------------------------------------------------------------------------


def quote_identifier(name: str) -> str:
    """`user` → `"user"`, `a"b` → `"a""b"`: a name SQL reads as a name, whatever it holds."""
    if not name or "\x00" in name:
        raise SourceError(f"{name!r} is not a usable table or column name")
    return '"' + name.replace('"', '""') + '"'


def quote_table(name: str) -> str:
    """`user` or `schema.user`."""
    return ".".join(quote_identifier(part) for part in name.split("."))


def _columns(mapping: TableMapping, present: Sequence[str], fold: bool) -> tuple[list[str], bool]:
    """The columns to select (id, username, password, then email when there is one), or SourceError."""
    names = {n.casefold() if fold else n for n in present}

    def has(column: str) -> bool:
        return (column.casefold() if fold else column) in names

    wanted = [mapping.id_column, mapping.username_column, mapping.password_column]
    missing = [c for c in wanted if not has(c)]
    if mapping.email_required and not has(mapping.email_column):
        missing.append(mapping.email_column)
    if missing:
        raise SourceError(
            f"table {mapping.table!r} has no column {', '.join(map(repr, missing))}; its columns: {', '.join(present)}"
        )
    has_email = has(mapping.email_column)
    return [*wanted, mapping.email_column] if has_email else wanted, has_email


def _select(mapping: TableMapping, columns: list[str]) -> str:
    listed = ", ".join(quote_identifier(c) for c in columns)
    return f"SELECT {listed} FROM {quote_table(mapping.table)} ORDER BY {quote_identifier(mapping.id_column)}"


def row_item(row: Sequence[Any]) -> Item:
    """(id, username, password hash[, email]) → the record, or why the row cannot be one."""
    raw_id = row[0]
    position: Position = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else str(raw_id)
    username, password_hash = row[1], row[2]
    email = row[3] if len(row) > 3 else None
    if not isinstance(username, str):
        return position, Rejection("malformed_record", "the username is NULL or not text")
    if isinstance(password_hash, bytes):
        try:
            password_hash = password_hash.decode("ascii")
        except UnicodeDecodeError:
            return position, Rejection("malformed_hash", "password_hash: is binary, not text", shown(username))
    if not isinstance(password_hash, str):
        return position, Rejection("malformed_hash", "password_hash: is NULL or not text", shown(username))
    if email is not None and not isinstance(email, str):
        return position, Rejection("invalid_email", "email: is not text", shown(username))
    return position, ImportRecord(username=username, email=email or None, password_hash=password_hash)


def sqlite_path(url: str) -> str:
    """`sqlite:///relative.db` → `relative.db`; `sqlite:////abs/x.db` → `/abs/x.db`."""
    rest = url.removeprefix("sqlite:")
    if rest.startswith("///"):
        return rest[3:]
    raise SourceError(f"{url!r}: use sqlite:///relative/path.db or sqlite:////absolute/path.db")


class SqliteSource:
    position_name = "id"

    def __init__(self, url: str, mapping: TableMapping) -> None:
        import sqlite3  # here, not at the top: `authgate serve` imports this module (its CLI) but never reads SQLite

        path = sqlite_path(url)
        if not Path(path).is_file():
            raise SourceError(f"{path}: no such file")
        try:
            self.conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
            present = [
                d[0] for d in self.conn.execute(f"SELECT * FROM {quote_table(mapping.table)} LIMIT 0").description
            ]
        except sqlite3.Error as exc:
            raise SourceError(f"{path}: {exc}") from None
        columns, self.has_email = _columns(mapping, present, fold=True)
        self.mapping = mapping
        self._select = _select(mapping, columns)

    async def count(self) -> int:
        row = self.conn.execute(f"SELECT count(*) FROM {quote_table(self.mapping.table)}").fetchone()
        return int(row[0])

    async def chunks(self, size: int) -> AsyncIterator[list[Item]]:
        import sqlite3

        try:
            cursor = self.conn.execute(self._select)
            while rows := cursor.fetchmany(size):
                yield [row_item(row) for row in rows]
        except sqlite3.Error as exc:
            raise SourceError(f"reading the source: {exc}") from None

    async def close(self) -> None:
        self.conn.close()


class PostgresSource:
    position_name = "id"

    def __init__(self, conn: Any, mapping: TableMapping, columns: list[str], has_email: bool) -> None:
        self.conn = conn
        self.mapping = mapping
        self.has_email = has_email
        self._select = _select(mapping, columns)

    @classmethod
    async def connect(cls, url: str, mapping: TableMapping) -> PostgresSource:
        import asyncpg

        try:
            conn = await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise SourceError(f"cannot connect to the source database: {exc}") from None
        try:
            statement = await conn.prepare(f"SELECT * FROM {quote_table(mapping.table)} LIMIT 0")
            present = [attribute.name for attribute in statement.get_attributes()]
            columns, has_email = _columns(mapping, present, fold=False)
        except BaseException as exc:
            await conn.close()
            if isinstance(exc, asyncpg.PostgresError):
                raise SourceError(f"the source table: {exc}") from None
            raise
        return cls(conn, mapping, columns, has_email)

    async def count(self) -> int:
        value = await self.conn.fetchval(f"SELECT count(*) FROM {quote_table(self.mapping.table)}")
        return int(value)

    async def chunks(self, size: int) -> AsyncIterator[list[Item]]:
        import asyncpg

        try:
            async with self.conn.transaction(readonly=True, isolation="repeatable_read"):
                cursor = await self.conn.cursor(self._select)
                while rows := await cursor.fetch(size):
                    yield [row_item(row) for row in rows]
        except asyncpg.PostgresError as exc:
            raise SourceError(f"reading the source: {exc}") from None

    async def close(self) -> None:
        await self.conn.close()
