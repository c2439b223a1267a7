"""The app of one worker of `authgate serve` (authgate/worker.py, `create_worker_app`): the command applies the
migrations before it forks, so the worker's start-up does not check them again."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


def test_serving_leaves_out_what_only_other_settings_or_commands_need(tmp_path: Path) -> None:
    """What `authgate serve` imports before it forks, and a worker's mailer without SMTP or a mail folder, leave
    these out: each module costs start-up time and memory in every worker (measured with callgrind: the serving
    imports went from 742 to 702 million instructions when they were left out). In a fresh interpreter, since
    this test run has imported them all."""
    script = (
        "import sys\n"
        "import authgate.cli, authgate.worker\n"
        "from authgate.config import load_settings\n"
        "from authgate.mail import build_mailer\n"
        "build_mailer(load_settings({}))\n"
        "print(' '.join(m for m in ('smtplib', 'email.policy', 'email.headerregistry', 'authgate.mail.mime',"
        " 'tomllib', 'sqlite3', 'bcrypt', 'cryptography.hazmat.primitives.serialization') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == []
    with_folder = script.replace("load_settings({})", "load_settings({'AUTHGATE_MAIL_DIR': sys.argv[1]})")
    done = subprocess.run(
        [sys.executable, "-c", with_folder, str(tmp_path)], capture_output=True, text=True, timeout=60, check=True
    )
    assert "authgate.mail.mime" in done.stdout.split()  # the check sees a module when it is there
