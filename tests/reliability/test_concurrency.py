"""Races against the real server (`authgate serve`, 2 workers), checked in the database afterwards.

- 200 registrations of one username (or one email, or look-alikes of one name) sent at once: exactly one 201,
  199 409 `username_taken` / `email_taken`, one row; on SQLite and on PostgreSQL.
- 50 refreshes of one refresh token sent at once: every one answers 200 with the same successor (the grace
  window), the session keeps exactly one live refresh token; once the window has passed, the old token
  again ends the session.
- 8 `authgate keys rotate` at once against one PostgreSQL while two servers run: exactly one current key,
  no key retired before it was made, and both servers publish the same JWKS and sign with the current key.

The hash queue is raised for these servers (AUTHGATE_HASH_QUEUE_SIZE): past it, a registration is a 503
`overloaded` by design, and that is not the race under test.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from abuse_helpers import drop_prefix, need_redis, unique_prefix
from helpers import PASSWORD, PostgresDatabases, assert_problem
from liveapi import ADMIN, Target, record_figures, serve, sql
from liveserver import LiveServer, authgate, live_server
from rawhttp import request_head, simultaneous

pytestmark = pytest.mark.reliability

GRACE = 3
ENV = {"AUTHGATE_HASH_QUEUE_SIZE": "1000", "AUTHGATE_REFRESH_GRACE_SECONDS": str(GRACE)}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with serve(request, tmp_path_factory.mktemp(request.param), request.param, env=ENV) as t:
        yield t


def post(target: Target, path: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    head = request_head("POST", path, f"{target.host}:{target.port}", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(data))), ("Connection", "close"),
    ])  # fmt: skip
    return head + data


@pytest.mark.parametrize("clash", ["username", "email", "look-alike username"])
def test_200_registrations_at_once_make_one_account(target: Target, clash: str) -> None:
    tag = uuid.uuid4().hex[:8]
    variants = [f"race{tag}", f"RACE{tag}", f"ｒａｃｅ{tag}", f"Race{tag.upper()}"]  # noqa: RUF001 (fullwidth)
    bodies = []
    for i in range(200):
        if clash == "email":
            bodies.append({"username": f"r{tag}{i}", "email": f"race{tag}@example.com", "password": PASSWORD})
        else:
            name = variants[i % 4] if clash == "look-alike username" else f"race{tag}"
            bodies.append({"username": name, "email": f"r{tag}{i}@example.com", "password": PASSWORD})
    started = time.monotonic()
    responses = asyncio.run(simultaneous(target.host, target.port, [post(target, "/auth/register", b) for b in bodies]))
    elapsed = time.monotonic() - started
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 199}, statuses
    code = "email_taken" if clash == "email" else "username_taken"
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, code)
    winner = next(r.json() for r in responses if r.status_code == 201)
    key = f"race{tag}@example.com" if clash == "email" else f"race{tag}"
    column = "email_key" if clash == "email" else "username_key"
    rows = sql(target, f"SELECT id FROM users WHERE {column} = $1", key)
    assert [str(r[0]) for r in rows] == [winner["id"]]
    record_figures(f"register-race-{clash.replace(' ', '-')}-{target.backend}", {"requests": 200, "seconds": elapsed})


def _sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def test_50_refreshes_at_once_share_one_successor_and_one_family(target: Target) -> None:
    name = "f" + uuid.uuid4().hex[:10]
    with target.client() as http:
        user = http.post(
            "/auth/register", json={"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        )
        assert user.status_code == 201, user.text
        first = http.post("/auth/login", json={"username": name, "password": PASSWORD}).json()
    token = first["refresh_token"]
    started = time.monotonic()
    requests = [post(target, "/auth/refresh", {"refresh_token": token})] * 50
    responses = asyncio.run(simultaneous(target.host, target.port, requests))
    took = max(r.elapsed for r in responses)
    assert took < GRACE, f"the 50 refreshes took {took:.2f} s, longer than the grace window"
    assert Counter(r.status_code for r in responses) == {200: 50}, [r.text for r in responses if r.status_code != 200]
    successors = {r.json()["refresh_token"] for r in responses}
    assert len(successors) == 1 and token not in successors
    successor = successors.pop()
    session_ids = {_claims(r.json()["access_token"])["sid"] for r in responses}
    assert session_ids == {_claims(first["access_token"])["sid"]}

    # In the database: one session, not ended, with exactly the old token (rotated, pointing at the successor)
    # and the successor (live): never two live token families.
    sessions = sql(target, "SELECT id, ended_at FROM sessions WHERE user_id = $1", user.json()["id"])
    assert len(sessions) == 1 and sessions[0][1] is None
    tokens = sql(target, "SELECT token_hash, rotated_at, successor_hash FROM refresh_tokens WHERE session_id = $1",
                 sessions[0][0])  # fmt: skip
    by_hash = {bytes(t[0]): t for t in tokens}
    assert set(by_hash) == {_sha256(token), _sha256(successor)}
    assert by_hash[_sha256(token)][1] is not None and bytes(by_hash[_sha256(token)][2]) == _sha256(successor)
    assert by_hash[_sha256(successor)][1] is None

    # Past the window (a time, not an event, to wait for), the old token is a reuse: the session ends.
    time.sleep(max(0.0, started + GRACE + 0.5 - time.monotonic()))
    with target.client() as http:
        assert_problem(http.post("/auth/refresh", json={"refresh_token": token}), 401, "refresh_token_reused")
        assert_problem(http.post("/auth/refresh", json={"refresh_token": successor}), 401, "session_ended")
        me = http.get("/auth/me", headers={"Authorization": f"Bearer {responses[0].json()['access_token']}"})
        assert_problem(me, 401, "session_ended")
    assert sql(target, "SELECT ended_at FROM sessions WHERE user_id = $1", user.json()["id"])[0][0] is not None
    record_figures(f"refresh-race-{target.backend}", {"requests": 50, "slowest_answer_s": took, "grace_s": GRACE})


def _claims(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return claims


def _kid(token: str) -> str:
    segment = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))["kid"]
    return kid


# -- key rotation on two instances --------------------------------------------------------------------------


def test_8_rotations_at_once_on_two_instances_leave_one_current_key(
    postgres_databases: PostgresDatabases, tmp_path: Path
) -> None:
    redis_url = need_redis()
    prefix = unique_prefix()
    env = {
        "AUTHGATE_DATABASE_URL": postgres_databases.create(),
        "AUTHGATE_REDIS_URL": redis_url,  # rotations are announced: every worker reloads its key ring at once
        "AUTHGATE_REDIS_PREFIX": prefix,
        "AUTHGATE_ISSUER": "https://auth.example.test",  # one deployment behind a load balancer
        "AUTHGATE_ACCESS_LOG": "false",
    }
    created = authgate("create-user", ADMIN, "--email", "root@example.com", "--password-stdin", env=env, stdin=PASSWORD)
    assert created.returncode == 0, created.stderr
    try:
        with live_server(env, tmp_path, workers=2) as a, live_server(env, tmp_path, workers=2) as b:
            _rotate_at_once_and_check(a, b, env)
    finally:
        asyncio.run(drop_prefix(redis_url, prefix))


def _login(server: LiveServer) -> str:
    response = httpx.post(server.url + "/auth/login", json={"username": ADMIN, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _rotate_at_once_and_check(a: LiveServer, b: LiveServer, env: dict[str, str]) -> None:
    before = {server.url: _login(server) for server in (a, b)}
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda _: authgate("keys", "rotate", env=env), range(8)))
    rotation_s = time.monotonic() - started
    assert [r.returncode for r in runs] == [0] * 8, [r.stderr for r in runs]

    keys = asyncio.run(_keys(env["AUTHGATE_DATABASE_URL"]))
    current = [k for k in keys if k["retired_at"] is None]
    assert len(current) == 1, keys
    current_kid = current[0]["kid"]
    assert len(keys) == 9  # the first key and one per rotation: no rotation was lost
    for key in keys:
        assert key["retired_at"] is None or key["retired_at"] >= key["created_at"], key
    assert current[0]["created_at"] == max(k["created_at"] for k in keys), "the current key is not the newest"
    listed = authgate("keys", "list", env=env)
    assert listed.returncode == 0 and listed.stdout.count("current") == 1, listed.stdout

    # Both servers (every worker of each) publish the same keys, and sign with the current one.
    deadline = time.monotonic() + 20
    while True:
        jwks = [httpx.get(s.url + "/.well-known/jwks.json").json()["keys"] for s in (a, b) for _ in range(4)]
        kids = [_login(s) for s in (a, b) for _ in range(4)]
        if all(j == jwks[0] for j in jwks) and {_kid(t) for t in kids} == {current_kid}:
            break
        assert time.monotonic() < deadline, (jwks, [_kid(t) for t in kids], current_kid)
        time.sleep(0.2)
    assert {k["kid"] for k in jwks[0]} == {k["kid"] for k in keys}  # every key retired < a token lifetime ago
    for token in before.values():  # tokens of the first key still verify, on either server
        for server in (a, b):
            me = httpx.get(server.url + "/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, me.text
    record_figures("key-rotation-race", {"rotations": 8, "servers": 2, "seconds_for_all_8": rotation_s})


async def _keys(url: str) -> list[dict[str, Any]]:
    import asyncpg

    db = await asyncpg.connect(url)
    try:
        return [dict(r) for r in await db.fetch("SELECT kid, created_at, retired_at FROM signing_keys")]
    finally:
        await db.close()
