"""A throw-away PostgreSQL database per server start: created before, dropped after (FORCE)."""

from __future__ import annotations

import asyncio
import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path="/" + name))


def new_database_name(prefix: str) -> str:
    return f"bench_{prefix.replace('-', '_')}_{secrets.token_hex(4)}"


async def _execute(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(name: str) -> str:
    """Create database `name` (a generated identifier) and return its URL."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a safe database name: {name!r}")
    asyncio.run(_execute(f'CREATE DATABASE "{name}"'))
    return database_url(name)


def drop_database(name: str) -> None:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a safe database name: {name!r}")
    asyncio.run(_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def server_version() -> str:
    async def version() -> str:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return asyncio.run(version())
