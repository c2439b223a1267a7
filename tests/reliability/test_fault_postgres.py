"""PostgreSQL goes away under load and comes back: while it is away every request that needs it is answered
503 `database_unavailable` (problem+json, Retry-After), quickly, never a 500 and never a hang; once it is back
the service recovers by itself, in the same processes; and every write acknowledged before, during or after is
still there.

Three faults, on a PostgreSQL of the test's own (tests/pgcluster.py), never the shared one:
- `restart`: `pg_ctl stop -m fast` (sessions ended, clean shutdown), down for a while, then started again;
- `crash`: a backend is killed with SIGKILL, so the postmaster ends every other session at once and runs crash
  recovery (WAL replay) before it takes connections again, as after any crash of a PostgreSQL process;
- `freeze`: every PostgreSQL process SIGSTOPped for longer than the command timeout, then SIGCONT (a hung
  server, or a network that drops packets: connections stay open and nothing answers).

So that `restart` and `crash` meet queries in flight, not only idle connections, the test holds a lock on
`users` just before: authgate's queries are then waiting inside PostgreSQL when it stops or crashes (the
backend killed in `crash` is the lock holder's). A freeze catches whatever is in flight by itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import asyncpg
import pytest

from authgate.http.handlers.system import READY_DATABASE_TIMEOUT
from liveserver import authgate, live_server
from memwatch import children
from mixedload import (
    PASSWORD,
    MixedLoad,
    all_ok_for,
    answered_since,
    between,
    login_token,
    phase_figures,
    phases,
    save_figures,
    unexpected,
    until,
    verify,
)
from pgcluster import Server, single

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

ANSWER_BOUND = 6.0
"""Seconds: the longest any request may take while PostgreSQL is away (the pool waits 5 s for a connection)."""
RECOVERY_BOUND = 5.0
"""Seconds from PostgreSQL taking connections again to every request succeeding again."""
DOWN_FOR = 3.0
"""Seconds PostgreSQL stays stopped in the `restart` fault."""
FROZEN_FOR = 12.0
"""Seconds PostgreSQL stays frozen in the `freeze` fault: longer than the 10 s command timeout."""
FROZEN_ANSWER_BOUND = 11.0
"""Seconds: the longest a request may take while PostgreSQL is frozen (the 10 s command timeout, and a second)."""
USERS = ("register", "login", "me", "refresh", "password", "logout", "users")


async def _accepts_connections(pg: Server) -> bool:
    try:
        conn = await asyncpg.connect(pg.url, timeout=1)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def _hold_users_until_queries_wait(pg: Server) -> asyncpg.Connection:
    """Lock `users` and return once at least 3 of authgate's queries wait for the lock."""
    locker = await asyncpg.connect(pg.url)
    await locker.execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
    watcher = await asyncpg.connect(pg.url)
    try:
        deadline = time.monotonic() + 10
        while await watcher.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") < 3:
            assert time.monotonic() < deadline, "no query came to wait for the lock"
            await asyncio.sleep(0.01)
    finally:
        await watcher.close()
    return locker


async def _under_load(url: str, pg: Server, fault: str) -> tuple[MixedLoad, dict[str, float], list[str]]:
    load = MixedLoad(url, users=8, rate=120, admin=("root", PASSWORD), seed=3)
    running = asyncio.create_task(load.run())
    t: dict[str, float] = {"start": time.monotonic()}
    await until(lambda: answered_since(load, t["start"], ok=True, kinds=USERS) >= 300, 30, "300 answers before")
    t["fault"] = time.monotonic()
    if fault == "freeze":
        await asyncio.to_thread(pg.freeze)
        t["down"] = time.monotonic()
        await until(lambda: time.monotonic() - t["down"] >= FROZEN_FOR, 60, "the freeze")
        await asyncio.to_thread(pg.thaw)
        t["up"] = time.monotonic()
        return await _recovery(url, load, running, t)
    locker = await _hold_users_until_queries_wait(pg)
    if fault == "restart":
        await asyncio.to_thread(pg.stop, "fast")
        t["down"] = time.monotonic()
        locker.terminate()
        await until(
            lambda: time.monotonic() - t["down"] >= DOWN_FOR and answered_since(load, t["down"], ok=False) >= 30,
            30,
            "failures while PostgreSQL is down",
        )
        await asyncio.to_thread(pg.start)
    else:
        os.kill(locker.get_server_pid(), signal.SIGKILL)
        t["down"] = time.monotonic()
        locker.terminate()
        await until(lambda: answered_since(load, t["down"], ok=False) >= 1, 30, "a failure after the crash")
        deadline = time.monotonic() + 60
        while not await _accepts_connections(pg):
            assert time.monotonic() < deadline, "PostgreSQL did not recover from the crash"
            await asyncio.sleep(0.05)
    t["up"] = time.monotonic()
    return await _recovery(url, load, running, t)


async def _recovery(
    url: str, load: MixedLoad, running: asyncio.Task[None], t: dict[str, float]
) -> tuple[MixedLoad, dict[str, float], list[str]]:
    await until(lambda: all_ok_for(load, t["up"], 3.0) is not None, 30, "3 s of successes after PostgreSQL is back")
    recovered = all_ok_for(load, t["up"], 3.0)
    assert recovered is not None
    t["recovered"] = recovered
    load.stop(3.0)
    await running
    t["end"] = time.monotonic()
    problems = await verify(url, load.ledger, await login_token(url, "root"))
    return load, t, problems


@pytest.mark.parametrize("fault", ["restart", "crash", "freeze"])
def test_postgres_lost_under_load_answers_503_and_recovers_by_itself(tmp_path: Path, fault: str) -> None:
    with single() as pg:
        env = {
            "AUTHGATE_DATABASE_URL": pg.url,
            "AUTHGATE_TRUSTED_PROXIES": "127.0.0.1",
            "AUTHGATE_MAIL_DIR": str(tmp_path / "mail"),
        }
        created = authgate(
            "create-user", "root", "--email", "root@example.com", "--admin", "--password-stdin", env=env, stdin=PASSWORD
        )
        assert created.returncode == 0, created.stderr
        with live_server(env, tmp_path, workers=2) as server:
            workers = children(server.process.pid)
            load, t, problems = asyncio.run(_under_load(server.url, pg, fault))
            assert server.process.poll() is None and children(server.process.pid) == workers, "a process was restarted"
            log = server.output()

    outcomes = [o for o in load.outcomes if o.kind != "ready"]
    ready = [o for o in load.outcomes if o.kind == "ready"]
    split = phases(outcomes, t["fault"], t["recovered"], t["end"])
    before, during, after = split["before"], split["during"], split["after"]
    seconds = {
        "before": t["fault"] - t["start"],
        "during": t["recovered"] - t["fault"],
        "after": t["end"] - t["recovered"],
    }
    # Readiness answers given while PostgreSQL was away (by when they came back: one sent just before a freeze
    # comes back after the readiness check's own timeout).
    ready_while_away = [o for o in ready if t["down"] <= o.sent_at + o.took < t["up"]]
    figures = {
        "fault": fault,
        "down_seconds": round(t["up"] - t["fault"], 2),
        "recovery_seconds_after_postgres_is_back": round(t["recovered"] - t["up"], 2),
        "phases": phase_figures(split, seconds),
        "ready_while_away": sorted({f"{o.status} {o.note}" for o in ready_while_away}),
        "ready_slowest_while_away_s": round(max((o.took for o in ready_while_away), default=0.0), 2),
        "acknowledged": {
            "registrations": len(load.ledger.accounts),
            "password_changes": load.ledger.password_changes,
            "logouts": len(load.ledger.ended),
        },
        "missing_after": problems[:20],
    }
    save_figures(f"fault-postgres-{fault}", figures)

    assert len(before) >= 300 and unexpected(before) == {}, unexpected(before)
    failures = [o for o in during if not o.ok]
    assert failures, "nothing failed: the fault was not felt"
    wrong = [o for o in failures if not (o.status == 503 and o.code == "database_unavailable")]
    assert wrong == [], f"{len(wrong)} failures other than 503 database_unavailable: {unexpected(wrong)}"
    assert all(o.problem_json and o.retry_after for o in failures)
    slowest = max(o.took for o in during)
    bound = FROZEN_ANSWER_BOUND if fault == "freeze" else ANSWER_BOUND
    assert slowest < bound, f"a request took {slowest:.1f} s while PostgreSQL was away"
    assert t["recovered"] - t["up"] < RECOVERY_BOUND, f"recovered {t['recovered'] - t['up']:.1f} s after"
    assert len(after) >= 100 and unexpected(after) == {}, unexpected(after)
    # readiness says so while it is away (a crash is over before the poller looks), and is 200 once it is back
    if fault != "crash":
        assert any(o.status == 503 for o in ready_while_away), figures["ready_while_away"]
        slowest_ready = max(o.took for o in ready_while_away)
        assert slowest_ready < READY_DATABASE_TIMEOUT + 1, f"readiness took {slowest_ready:.1f} s to answer"
    assert all(o.ok for o in between(ready, t["recovered"], t["end"]))
    assert problems == [], problems[:20]
    assert '"unhandled error"' not in log
