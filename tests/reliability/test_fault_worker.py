"""A worker killed with SIGKILL under load: Granian replaces it, the other worker keeps serving, and the only
requests that fail are the ones the dead worker held.

On SQLite (the store a dying process could most easily damage: the killed worker may hold its write lock mid
transaction), 2 workers, mixed traffic on 15 keep-alive connections. Which worker answered each request is
read from its X-Request-ID (a random prefix per process), so the test sees the survivor keep answering and the
replacement start. A failed request is one of two kinds, both on a connection the killed worker held: in
flight when it died (sent before the kill), or the first sent afterwards on that dead keep-alive connection,
before the client saw it close (what HTTP client libraries retry, as nothing was processed), which may come
after the replacement is up. Every connection fails at most once; a request on any new connection succeeds.

And Granian's crash-loop rule: a worker that dies again within 5.5 s of being replaced makes the whole server
exit with status 1, for the supervisor (systemd's Restart=on-failure) to start it again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from liveserver import LiveServer, authgate, live_server
from memwatch import children
from mixedload import (
    PASSWORD,
    MixedLoad,
    between,
    login_token,
    phase_figures,
    phases,
    save_figures,
    unexpected,
    until,
    verify,
)
from rawclient import Connection, RequestFailed

pytestmark = [pytest.mark.reliability]

REPLACEMENT_BOUND = 10.0
"""Seconds from the SIGKILL to the replacement worker answering requests."""


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/authgate.db",
        "AUTHGATE_TRUSTED_PROXIES": "127.0.0.1",
        "AUTHGATE_MAIL_DIR": str(tmp_path / "mail"),
    }


def _workers_seen(load: MixedLoad, since: float = 0.0) -> set[str]:
    return {o.worker for o in load.outcomes if o.worker and o.sent_at >= since}


async def _new_worker_answers(url: str, before: set[str], deadline: float) -> tuple[float, str]:
    """When a worker other than `before` first answers a request on a new connection. The load's users keep
    their connections (those the dead worker held reconnect at once, to the survivor), so only new connections,
    as a proxy opens them over time, reach the replacement."""
    host, _, port = url.removeprefix("http://").partition(":")
    while True:
        conn = Connection(host, int(port), timeout=5)
        try:
            reply = await conn.request("GET", "/health/live")
            worker = reply.headers["x-request-id"].rpartition("-")[0]
            if worker not in before:
                return time.monotonic(), worker
        except RequestFailed:
            pass  # a connection the dying worker had accepted: the load's figures count those
        finally:
            conn.close()
        assert time.monotonic() < deadline, "the replacement did not answer"
        await asyncio.sleep(0.01)


async def _kill_a_worker_under_load(server: LiveServer) -> tuple[MixedLoad, dict[str, float], dict[str, object]]:
    load = MixedLoad(server.url, users=12, rate=150, admin=("root", PASSWORD), seed=7)
    running = asyncio.create_task(load.run())
    t: dict[str, float] = {"start": time.monotonic()}
    await until(lambda: len(load.outcomes) >= 300 and len(_workers_seen(load)) == 2, 30, "both workers answering")
    before = _workers_seen(load)
    workers = children(server.process.pid)
    assert len(workers) == 2, workers
    victim = workers[0]
    t["fault"] = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    spawned = await until(
        lambda: victim not in children(server.process.pid) and len(children(server.process.pid)) == 2,
        REPLACEMENT_BOUND,
        "a new worker process",
    )
    t["spawned"] = spawned
    t["recovered"], replacement = await _new_worker_answers(server.url, before, t["fault"] + REPLACEMENT_BOUND)
    load.stop(3.0)
    await running
    t["end"] = time.monotonic()
    survivors = before & _workers_seen(load, t["fault"])
    assert len(survivors) == 1, survivors
    seen: dict[str, object] = {
        "survivor_answers_while_replacing": sum(
            1 for o in between(load.outcomes, t["fault"], t["recovered"]) if o.worker in survivors
        ),
        "survivor_answers_in_the_second_after_the_kill": sum(
            1 for o in between(load.outcomes, t["fault"], t["fault"] + 1.0) if o.worker in survivors
        ),
        "workers_after": sorted(
            "survivor" if w in survivors else "replacement" if w == replacement else w
            for w in _workers_seen(load, t["recovered"]) | {replacement}
        ),
        "problems": await verify(server.url, load.ledger, await login_token(server.url, "root")),
    }
    return load, t, seen


def test_a_killed_worker_is_replaced_and_only_its_own_requests_fail(tmp_path: Path) -> None:
    env = _env(tmp_path)
    created = authgate(
        "create-user", "root", "--email", "root@example.com", "--admin", "--password-stdin", env=env, stdin=PASSWORD
    )
    assert created.returncode == 0, created.stderr
    with live_server(env, tmp_path, workers=2) as server:
        load, t, seen = asyncio.run(_kill_a_worker_under_load(server))
        assert server.process.poll() is None
        log = server.output()
    problems = seen.pop("problems")
    assert isinstance(problems, list)

    outcomes = load.outcomes
    split = phases(outcomes, t["fault"], t["recovered"], t["end"])
    failed = [o for o in outcomes if not o.ok]
    in_flight = [o for o in failed if o.sent_at < t["fault"]]
    on_dead_connections = [o for o in failed if o.sent_at >= t["fault"]]
    figures = {
        "new_process_after_seconds": round(t["spawned"] - t["fault"], 2),
        "replacement_answering_after_seconds": round(t["recovered"] - t["fault"], 2),
        "phases": phase_figures(
            split,
            {
                "before": t["fault"] - t["start"],
                "during": t["recovered"] - t["fault"],
                "after": t["end"] - t["recovered"],
            },
        ),
        "failed": {
            "in_flight_at_the_kill": len(in_flight),
            "sent_on_its_dead_keep_alive_connections": len(on_dead_connections),
        },
        **seen,
        "acknowledged": {
            "registrations": len(load.ledger.accounts),
            "password_changes": load.ledger.password_changes,
            "logouts": len(load.ledger.ended),
        },
        "missing_after": problems[:20],
    }
    save_figures("fault-worker-sigkill", figures)

    assert unexpected(split["before"]) == {}
    # only requests without an answer failed, never a 5xx; each on a connection open before the kill, once
    assert all(o.status is None and o.sent for o in failed), unexpected(failed)
    opened_after = {o.connection for o in outcomes if o.sent_at >= t["fault"] and not o.reused}
    assert not [o for o in failed if o.connection in opened_after]
    assert len({o.connection for o in failed}) == len(failed)
    assert all(o.reused for o in on_dead_connections)
    # ... and each was the first use of its connection after the kill (whenever it came: an idle keep-alive
    # connection of the dead worker fails when it is next used): a connection that answered after the kill
    # belongs to a live worker and never fails
    for f in on_dead_connections:
        assert not [o for o in outcomes if o.connection == f.connection and t["fault"] <= o.sent_at < f.sent_at]
    assert len(failed) <= 15, "more failures than connections"  # 12 users, the admin, the guesser, readiness
    # the other worker kept answering, and the replacement answers (a new connection reached it)
    assert seen["survivor_answers_in_the_second_after_the_kill"]
    assert seen["workers_after"] == ["replacement", "survivor"]
    assert t["recovered"] - t["fault"] < REPLACEMENT_BOUND
    assert problems == [], problems[:20]
    assert '"unhandled error"' not in log
    # SQLite survived a process killed in the middle of its work
    with sqlite3.connect(tmp_path / "authgate.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_a_worker_dying_again_at_once_makes_the_server_exit_for_its_supervisor(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with live_server(env, tmp_path, workers=2) as server:
        first = children(server.process.pid)
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + REPLACEMENT_BOUND
        while not (len(now := children(server.process.pid)) == 2 and first[0] not in now):
            assert time.monotonic() < deadline, "not replaced"
            time.sleep(0.02)
        (replacement,) = set(now) - set(first)
        os.kill(replacement, signal.SIGKILL)  # within Granian's 5.5 s crash-loop window
        assert server.process.wait(timeout=30) == 1
        assert "crash loop" in server.output()
