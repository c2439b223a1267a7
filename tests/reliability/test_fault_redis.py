"""Redis goes away under load and comes back: the service degrades as docs/abuse.md says and recovers by itself.

While Redis is away, rate limits and the login back-off count in each worker process (the guesser still meets
them), `/health/ready` stays 200 and says `degraded`, logins and everything else keep working, and no request
waits longer than the Redis timeout; once Redis is back, every worker counts in Redis again and key-rotation
notices reach every worker again. Every acknowledged write is still there.

Two faults, on a redis-server of the test's own (never the shared one):
- `killed`: SIGKILL, then a new redis-server on the same port (empty: the counters start from zero);
- `frozen`: SIGSTOP, then SIGCONT (connections stay open and nothing answers until then).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import pytest

from liveserver import LiveServer, authgate, live_server
from mixedload import (
    PASSWORD,
    MixedLoad,
    Outcome,
    answered_since,
    between,
    kid_of,
    login_token,
    phase_figures,
    phases,
    save_figures,
    unexpected,
    until,
    verify,
)
from rawclient import Connection
from redisserver import RedisServer, redis_server

pytestmark = [pytest.mark.reliability, pytest.mark.redis]

OUTAGE = 6.0
"""Seconds Redis stays away."""
ANSWER_BOUND = 1.5
"""Seconds: the longest a request may take while Redis is away (AUTHGATE_REDIS_TIMEOUT_MS is 250 ms)."""
RECOVERY_BOUND = 12.0
"""Seconds from Redis answering again to every worker counting in it again (a probe at most every 5 s)."""
ROTATION_BOUND = 1.0
"""Seconds from a key rotation to every worker signing with the new key, once they listen again."""


def _ready_ok(o: Outcome) -> bool:
    return o.status == 200 and (o.note or "").endswith("| ok")


def _redis_events(log: str) -> list[str]:
    """The workers' log lines about Redis, for the figures (what went down, why, and when it came back)."""
    return [line[:400] for line in log.splitlines() if '"event":"ratelimit_' in line or '"event":"key_sync_' in line]


def _events(server: LiveServer, event: str) -> int:
    return server.output().count(f'"event":"{event}"')


async def _signing_kids(url: str, logins: int) -> dict[str, set[str]]:
    """Log in `logins` times, each on a new connection: the kids each worker signed with."""
    host, _, port = url.removeprefix("http://").partition(":")
    kids: dict[str, set[str]] = {}
    for i in range(logins):
        conn = Connection(host, int(port))
        try:
            body = f'{{"username": "root", "password": "{PASSWORD}"}}'.encode()
            reply = await conn.request("POST", "/auth/login", body, {"X-Forwarded-For": f"192.0.2.{100 + i}"})
        finally:
            conn.close()
        data = reply.json()
        assert reply.status == 200 and isinstance(data, dict), reply.body
        kids.setdefault(reply.headers["x-request-id"].rpartition("-")[0], set()).add(kid_of(data["access_token"]))
    return kids


async def _rotation_reaches_every_worker(url: str, env: dict[str, str]) -> float:
    """Rotate the signing key (`authgate keys rotate`, which announces it over Redis); how long until both
    workers sign with it. Without the notice a worker would only notice at its 30 s periodic reload."""
    rotated = await asyncio.to_thread(authgate, "keys", "rotate", env=env)
    assert rotated.returncode == 0, rotated.stderr
    match = re.search(r"new signing key (\S+);", rotated.stdout)
    assert match is not None, rotated.stdout
    at = time.monotonic()
    while True:
        kids = await _signing_kids(url, 8)
        if len(kids) == 2 and all(k == {match.group(1)} for k in kids.values()):
            return time.monotonic() - at
        assert time.monotonic() - at < ROTATION_BOUND, f"after {ROTATION_BOUND} s the workers signed with {kids}"


async def _under_load(
    server: LiveServer, redis: RedisServer, prefix: str, fault: str, env: dict[str, str]
) -> tuple[MixedLoad, dict[str, float], dict[str, object]]:
    url = server.url
    load = MixedLoad(url, users=8, rate=100, admin=("root", PASSWORD), seed=5)
    running = asyncio.create_task(load.run())
    t: dict[str, float] = {"start": time.monotonic()}
    seen: dict[str, object] = {}
    await until(lambda: answered_since(load, t["start"], ok=True) >= 300, 30, "300 answers before the fault")
    keys_before = set(redis.keys(f"{prefix}:*"))
    assert keys_before, "nothing was counted in Redis before the fault"
    seen["keys_before"] = len(keys_before)
    t["fault"] = time.monotonic()
    if fault == "killed":
        redis.kill()
    else:
        redis.freeze()
    # every worker notices at its next rate-limited request (2 workers)
    await until(lambda: _events(server, "ratelimit_degraded") >= 2, 15, "both workers falling back")
    t["degraded"] = time.monotonic()
    await until(lambda: time.monotonic() - t["fault"] >= OUTAGE, 30, "the outage")
    if fault == "killed":
        redis.start()
    else:
        redis.thaw()
    t["up"] = time.monotonic()
    await until(lambda: _events(server, "ratelimit_restored") >= 2, 30, "both workers counting in Redis again")
    t["recovered"] = time.monotonic()
    load.stop(3.0)
    await running
    t["end"] = time.monotonic()
    keys_after = set(redis.keys(f"{prefix}:*"))
    seen["new_keys_after"] = len(keys_after - keys_before)
    # key-rotation notices: once every worker listens again, a rotation reaches both at once
    if fault == "killed":
        listening = await until(lambda: _events(server, "key_sync_restored") >= 2, 30, "both listening again")
        seen["key_sync_back_after_seconds"] = round(listening - t["up"], 2)
    seen["rotation_reached_both_workers_seconds"] = round(await _rotation_reaches_every_worker(url, env), 2)
    seen["problems"] = await verify(url, load.ledger, await login_token(url, "root"))
    return load, t, seen


@pytest.mark.parametrize("fault", ["killed", "frozen"])
def test_redis_lost_under_load_degrades_to_in_process_limits_and_recovers(tmp_path: Path, fault: str) -> None:
    with redis_server(tmp_path) as redis:
        prefix = f"authgate-fault-{uuid.uuid4().hex[:8]}"
        env = {
            "AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/authgate.db",
            "AUTHGATE_REDIS_URL": redis.url,
            "AUTHGATE_REDIS_PREFIX": prefix,
            "AUTHGATE_TRUSTED_PROXIES": "127.0.0.1",
            # the production limits, but for the admin's account, which the rotation check logs in many times
            "AUTHGATE_RATE_LIMITS": "login:ip=20/minute,account=10000/hour;register:ip=5/minute;refresh:ip=300/minute",
            "AUTHGATE_LOGIN_BACKOFF_AFTER": "5",
            "AUTHGATE_MAIL_DIR": str(tmp_path / "mail"),
        }
        created = authgate(
            "create-user", "root", "--email", "root@example.com", "--admin", "--password-stdin", env=env, stdin=PASSWORD
        )
        assert created.returncode == 0, created.stderr
        with live_server(env, tmp_path, workers=2) as server:
            load, t, seen = asyncio.run(_under_load(server, redis, prefix, fault, env))
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
    problems = seen.pop("problems")
    assert isinstance(problems, list)
    figures = {
        "fault": fault,
        "away_seconds": round(t["up"] - t["fault"], 2),
        "both_workers_degraded_after_seconds": round(t["degraded"] - t["fault"], 2),
        "both_workers_back_after_seconds": round(t["recovered"] - t["up"], 2),
        "phases": phase_figures(split, seconds),
        "ready_during": sorted({f"{o.status} {o.note}" for o in between(ready, t["degraded"], t["up"])}),
        **seen,
        "acknowledged": {
            "registrations": len(load.ledger.accounts),
            "password_changes": load.ledger.password_changes,
            "logouts": len(load.ledger.ended),
        },
        "missing_after": problems[:20],
        "redis_events": _redis_events(log),
    }
    save_figures(f"fault-redis-{fault}", figures)

    assert unexpected(before) == {}, unexpected(before)
    # while Redis is away nothing fails: every answer as intended, logins included, the guesser still limited
    assert unexpected(during) == {}, unexpected(during)
    assert sum(1 for o in during if o.kind == "login" and o.status == 200) >= 10
    assert any(o.kind == "guess" and o.status == 429 for o in between(during, t["degraded"], t["up"]))
    slowest = max(o.took for o in during)
    assert slowest < ANSWER_BOUND, f"a request took {slowest:.2f} s while Redis was away"
    # readiness stays 200 and says degraded; and ok again once every worker is back
    away = between(ready, t["degraded"], t["up"])
    assert away and all(o.status == 200 for o in away)
    assert any("degraded" in (o.note or "") for o in away)
    not_ok = [f"{o.status} {o.note}" for o in between(ready, t["recovered"], t["end"]) if not _ready_ok(o)]
    assert not_ok == [], (not_ok, figures["redis_events"])
    assert t["recovered"] - t["up"] < RECOVERY_BOUND
    assert len(after) >= 100 and unexpected(after) == {}, unexpected(after)
    assert seen["new_keys_after"], "nothing was counted in Redis after it came back"
    assert problems == [], problems[:20]
    assert '"unhandled error"' not in log
