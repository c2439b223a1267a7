"""Storage: the Protocols the use cases talk to (`base`), and their SQLite and PostgreSQL implementations."""

from __future__ import annotations

from authgate.storage.base import Database


def open_database(url: str, *, replica_urls: tuple[str, ...] = (), pool_size: int = 10) -> Database:
    """The database for a URL (`sqlite:///path` or `postgresql://...`); call `connect()` before use."""
    if url.startswith("sqlite:"):
        from authgate.storage.sqlite import SqliteDatabase

        return SqliteDatabase(url)
    from authgate.storage.postgres import PostgresDatabase

    return PostgresDatabase(url, replica_urls=replica_urls, pool_size=pool_size)


__all__ = ["Database", "open_database"]
