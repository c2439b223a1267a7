"""How `authgate serve`'s threads are scheduled on Linux: the serving ones at SCHED_BATCH (AUTHGATE_WORKER_SCHEDULING,
see authgate/worker.py), the hashing ones at their own priority whatever the rest does."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from helpers import login, register
from liveserver import live_server
from rawhttp import process_tree

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="per-thread policies are Linux's")]


def policies(pid: int) -> Counter[int]:
    """The scheduling policy of every thread of `pid` and its descendants, counted."""
    found: Counter[int] = Counter()
    for process in process_tree(pid):
        for task in Path(f"/proc/{process}/task").iterdir():
            try:
                found[os.sched_getscheduler(int(task.name))] += 1
            except ProcessLookupError:  # a thread that ended meanwhile
                continue
    return found


@pytest.mark.parametrize(
    ("setting", "serving"), [(None, os.SCHED_BATCH), ("normal", os.SCHED_OTHER)], ids=["default", "normal"]
)
async def test_serving_threads_follow_the_setting_and_hashing_threads_stay_idle(
    tmp_path: Path, setting: str | None, serving: int
) -> None:
    env = {"AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/authgate.db", "AUTHGATE_HASH_POOL_SIZE": "1"}
    if setting is not None:
        env["AUTHGATE_WORKER_SCHEDULING"] = setting
    with live_server(env, tmp_path, workers=1) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            await register(client)
            await login(client)  # the worker's one hashing thread exists from its first hash on
        found = policies(server.process.pid)
    # the supervisor and the worker (main thread, Granian's threads), and the one hashing thread
    assert found[os.SCHED_IDLE] == 1, found
    assert found[serving] >= 3 and set(found) == {serving, os.SCHED_IDLE}, found
