"""The app of one worker of `authgate serve` (authgate/worker.py, `create_worker_app`): the command applies the
migrations before it forks, so the worker's start-up does not check them again."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from authgate.app import App
from authgate.errors import DatabaseUnavailable
from authgate.worker import create_worker_app
from helpers import make_settings


@pytest.fixture
def signal_mask() -> Iterator[None]:
    """`create_worker_app` holds back the stop signals until Granian serves; give them back to the test run."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    signal.pthread_sigmask(signal.SIG_SETMASK, before)


async def test_a_worker_starts_on_the_schema_the_command_migrated(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, signal_mask: None
) -> None:
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", sqlite_url)
    worker = create_worker_app()
    assert worker.migrated
    with pytest.raises(DatabaseUnavailable, match="no such table"):  # an empty database: nothing made the schema
        await worker.startup()
    command = App(make_settings(sqlite_url))  # what `authgate serve` does first (`_prepare`): migrate
    await command.startup()
    await command.shutdown()
    await worker.startup()
    try:
        assert worker.services.keys is not None
    finally:
        await worker.shutdown()
