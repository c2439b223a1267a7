"""Fixtures of the client tests: a fresh stand-in authgate per test (see fake_authgate.py) and a fake clock.

The same tests against a live authgate come once the server can be started.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fake_authgate import FakeAuthgate, FakeClock, Server


@pytest.fixture
def authgate() -> Iterator[FakeAuthgate]:
    fake = FakeAuthgate()
    server = Server(fake)
    fake.url = f"http://127.0.0.1:{server.server_port}"
    fake.issuer = fake.url
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-authgate", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
