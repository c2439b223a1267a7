"""The command line's tests: the environment an `authgate` command reads, on each backend (`database_url`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("AUTHGATE_PASSWORD_HASH_MEMORY_KIB", "64")
    monkeypatch.setenv("AUTHGATE_PASSWORD_HASH_TIME_COST", "1")
    monkeypatch.setenv("AUTHGATE_LOG_LEVEL", "warning")
    return database_url
