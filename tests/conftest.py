"""Shared fixtures: settings with a fast password hash, one database per backend, an app and a client.

PostgreSQL tests run whenever a server is reachable (AUTHGATE_TEST_POSTGRES_URL, or 127.0.0.1:5432); in CI
(CI=true) an unreachable server is a failure, not a skip. Each test session makes its own database with a
unique name and drops it at the end.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from authgate.app import App, create_app
from authgate.config import Settings
from helpers import PostgresDatabases, make_settings


def _postgres_admin_url() -> str | None:
    url = os.environ.get("AUTHGATE_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return "postgresql://postgres@127.0.0.1:5432/postgres"
    except OSError:
        return None


def _need(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not reachable, and CI must test against it")
    pytest.skip(f"{what} is not reachable")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    url = _postgres_admin_url()
    if url is None:
        _need("PostgreSQL")
    assert url is not None
    return url


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: str) -> Iterator[PostgresDatabases]:
    dbs = PostgresDatabases(postgres_server)
    yield dbs
    dbs.drop_all()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/authgate.db"
    dbs: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return dbs.create()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/authgate.db"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    application = create_app(settings)
    await application.startup()
    yield application
    await application.shutdown()


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as c:
        yield c
