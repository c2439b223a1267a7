"""The store contracts' database: a migrated one per test, on each backend (`database_url`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from authgate.storage import open_database
from authgate.storage.base import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = open_database(database_url)
    await database.connect()
    await database.migrate()
    yield database
    await database.close()
