"""How `authgate serve`'s threads are scheduled on Linux: a worker's serving ones at SCHED_BATCH while it serves
(AUTHGATE_WORKER_SCHEDULING, see authgate/worker.py), the hashing ones at their own priority whatever the rest
does, the supervisor at the normal policy."""

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
    """The scheduling policy of every thread of `pid`, counted."""
    found: Counter[int] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
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
        supervisor, worker = process_tree(server.process.pid)
        in_supervisor, in_worker = policies(supervisor), policies(worker)
    assert set(in_supervisor) == {os.SCHED_OTHER}, in_supervisor  # it only watches the worker
    # the worker's main thread and Granian's threads, and its one hashing thread
    assert in_worker[os.SCHED_IDLE] == 1, in_worker
    assert in_worker[serving] >= 2 and set(in_worker) == {serving, os.SCHED_IDLE}, in_worker
