"""The disk under SQLite fills up under load: a clear answer, no corruption, nothing acknowledged lost, and the
service works again as soon as there is space.

The database lives on a tmpfs of the test's own (tests/smallfs.py), which a ballast file fills while mixed
traffic runs on 2 workers: SQLite's writes then fail with ENOSPC from the kernel (SQLITE_FULL), exactly as on
a full disk. While it is full every write is refused with 507 `storage_full` (problem+json, Retry-After),
never a 500; reads and token checks keep working. Once the ballast is removed, everything succeeds again
without a restart, `PRAGMA integrity_check` is ok, and every acknowledged write is there.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from liveserver import LiveServer, authgate, live_server
from mixedload import (
    PASSWORD,
    MixedLoad,
    all_ok_for,
    answered_since,
    login_token,
    phase_figures,
    phases,
    save_figures,
    unexpected,
    until,
    verify,
)
from smallfs import Ballast, free_bytes, tmpfs

pytestmark = [pytest.mark.reliability]

FULL_FOR = 3.0
"""Seconds the filesystem stays full."""
RECOVERY_BOUND = 5.0
"""Seconds from space being freed to every request succeeding again."""
WRITES = ("register", "login", "refresh", "password", "logout")


async def _fill_under_load(server: LiveServer, disk: Path) -> tuple[MixedLoad, dict[str, float], dict[str, object]]:
    load = MixedLoad(server.url, users=8, rate=100, admin=("root", PASSWORD), seed=9)
    running = asyncio.create_task(load.run())
    t: dict[str, float] = {"start": time.monotonic()}
    await until(lambda: answered_since(load, t["start"], ok=True) >= 300, 30, "300 answers before the disk fills")
    ballast = Ballast(disk)
    t["fault"] = time.monotonic()
    await asyncio.to_thread(ballast.fill)
    t["full"] = time.monotonic()
    await until(
        lambda: time.monotonic() - t["full"] >= FULL_FOR and answered_since(load, t["full"], ok=False) >= 20,
        30,
        "writes refused while the disk is full",
    )
    seen: dict[str, object] = {"free_bytes_while_full": free_bytes(disk)}
    with sqlite3.connect(disk / "authgate.db") as db:  # while the server runs, and full
        seen["integrity_while_full"] = db.execute("PRAGMA integrity_check").fetchall()
    ballast.remove()
    t["up"] = time.monotonic()
    await until(lambda: all_ok_for(load, t["up"], 3.0) is not None, 30, "3 s of successes once there is space")
    recovered = all_ok_for(load, t["up"], 3.0)
    assert recovered is not None
    t["recovered"] = recovered
    load.stop(3.0)
    await running
    t["end"] = time.monotonic()
    seen["problems"] = await verify(server.url, load.ledger, await login_token(server.url, "root"))
    return load, t, seen


def test_a_full_disk_refuses_writes_with_507_and_loses_nothing(tmp_path: Path) -> None:
    with tmpfs(16) as disk:
        env = {
            "AUTHGATE_DATABASE_URL": f"sqlite:///{disk}/authgate.db",
            "AUTHGATE_TRUSTED_PROXIES": "127.0.0.1",
            "AUTHGATE_MAIL_DIR": str(tmp_path / "mail"),  # the mails and the server's log are not on the small disk
        }
        created = authgate(
            "create-user", "root", "--email", "root@example.com", "--admin", "--password-stdin", env=env, stdin=PASSWORD
        )
        assert created.returncode == 0, created.stderr
        with live_server(env, tmp_path, workers=2) as server:
            load, t, seen = asyncio.run(_fill_under_load(server, disk))
            assert server.process.poll() is None
            log = server.output()
        with sqlite3.connect(disk / "authgate.db") as db:
            integrity_after = db.execute("PRAGMA integrity_check").fetchall()
    problems = seen.pop("problems")
    assert isinstance(problems, list)

    outcomes = [o for o in load.outcomes if o.kind != "ready"]
    split = phases(outcomes, t["fault"], t["recovered"], t["end"])
    during = split["during"]
    figures = {
        "filesystem": "tmpfs, 16 MiB",
        "full_seconds": round(t["up"] - t["full"], 2),
        "recovery_seconds_after_space_is_freed": round(t["recovered"] - t["up"], 2),
        "phases": phase_figures(
            split,
            {
                "before": t["fault"] - t["start"],
                "during": t["recovered"] - t["fault"],
                "after": t["end"] - t["recovered"],
            },
        ),
        **seen,
        "integrity_after": integrity_after,
        "acknowledged": {
            "registrations": len(load.ledger.accounts),
            "password_changes": load.ledger.password_changes,
            "logouts": len(load.ledger.ended),
        },
        "missing_after": problems[:20],
    }
    save_figures("fault-sqlite-disk-full", figures)

    assert unexpected(split["before"]) == {}, unexpected(split["before"])
    failures = [o for o in during if not o.ok]
    assert len(failures) >= 20, "the full disk was not felt"
    wrong = [o for o in failures if not (o.status == 507 and o.code == "storage_full")]
    assert wrong == [], f"{len(wrong)} failures other than 507 storage_full: {unexpected(wrong)}"
    assert all(o.problem_json and o.retry_after for o in failures)
    # what needs no write keeps working: token checks and the admin listing
    full = [o for o in during if t["full"] + 0.5 <= o.sent_at < t["up"]]
    assert all(o.ok for o in full if o.kind in ("me", "users")) and any(o.kind == "me" for o in full)
    assert t["recovered"] - t["up"] < RECOVERY_BOUND
    assert len(split["after"]) >= 100 and unexpected(split["after"]) == {}, unexpected(split["after"])
    assert seen["integrity_while_full"] == [("ok",)] and integrity_after == [("ok",)]
    assert problems == [], problems[:20]
    assert '"unhandled error"' not in log
