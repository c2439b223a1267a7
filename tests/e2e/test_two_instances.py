"""Two real instances (`authgate serve`) on one PostgreSQL database and one Redis: the limits are exact across
them under concurrent attempts, the back-off engaged through one holds on the other, and refresh-token reuse
detection and key rotation keep working whichever instance a client reaches."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from abuse_helpers import drop_prefix, need_redis, unique_prefix
from liveserver import LiveServer, authgate, live_server

pytestmark = [pytest.mark.slow, pytest.mark.redis]

PASSWORD = "a-long-and-unusual-passphrase"
WRONG = "not-the-password-at-all"


def kid_of(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    kid: str = header["kid"]
    return kid


@pytest.fixture
def two(
    request: pytest.FixtureRequest, postgres_databases: Any, tmp_path: Path
) -> Iterator[tuple[LiveServer, LiveServer, dict[str, str]]]:
    redis_url = need_redis()
    prefix = unique_prefix()
    env = {
        "AUTHGATE_DATABASE_URL": postgres_databases.create(),
        "AUTHGATE_REDIS_URL": redis_url,
        "AUTHGATE_REDIS_PREFIX": prefix,
        "AUTHGATE_RATE_LIMITS": getattr(
            request, "param", "login:ip=10/minute,account=1000/hour;refresh:ip=1000/minute"
        ),
        "AUTHGATE_LOGIN_BACKOFF_AFTER": "1000",
        "AUTHGATE_REFRESH_GRACE_SECONDS": "0",
        "AUTHGATE_ISSUER": "https://auth.example.test",  # one deployment, one issuer, behind a load balancer
    }
    created = authgate(
        "create-user", "alice", "--email", "alice@example.com", "--password-stdin", env=env, stdin=PASSWORD
    )
    assert created.returncode == 0, created.stderr
    try:
        with live_server(env, tmp_path, workers=2) as a, live_server(env, tmp_path, workers=1) as b:
            yield a, b, env
    finally:
        asyncio.run(drop_prefix(redis_url, prefix))


async def _concurrent_logins(urls: list[str], count: int) -> list[int]:
    clients = [httpx.AsyncClient(base_url=url, timeout=20) for url in urls]
    try:

        async def attempt(i: int) -> int:
            password = PASSWORD if i % 4 == 0 else WRONG
            response = await clients[i % len(clients)].post(
                "/auth/login", json={"username": "alice", "password": password}
            )
            return response.status_code

        return list(await asyncio.gather(*(attempt(i) for i in range(count))))
    finally:
        for c in clients:
            await c.aclose()


def test_limits_are_exact_across_instances(two: tuple[LiveServer, LiveServer, dict[str, str]]) -> None:
    a, b, _ = two
    for server in (a, b):
        assert httpx.get(server.url + "/health/ready").json()["checks"]["rate_limits"] == "ok"
    statuses = asyncio.run(_concurrent_logins([a.url, b.url], 40))
    assert sum(s in (200, 401) for s in statuses) == 10, statuses
    assert statuses.count(429) == 30


@pytest.mark.parametrize("two", ["login:ip=1000/minute;refresh:ip=1000/minute"], indirect=True)
def test_refresh_reuse_and_key_rotation_across_instances(two: tuple[LiveServer, LiveServer, dict[str, str]]) -> None:
    a, b, env = two
    with httpx.Client(base_url=a.url, timeout=10) as on_a, httpx.Client(base_url=b.url, timeout=10) as on_b:
        tokens = on_a.post("/auth/login", json={"username": "alice", "password": PASSWORD}).json()
        assert on_b.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 200
        rotated = on_b.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert rotated.status_code == 200
        reused = on_a.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert reused.status_code == 401 and reused.json()["code"] == "refresh_token_reused"
        # The whole session is ended, on both instances.
        for http in (on_a, on_b):
            again = http.post("/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]})
            assert again.status_code == 401
            me = http.get("/auth/me", headers={"Authorization": f"Bearer {rotated.json()['access_token']}"})
            assert me.status_code == 401

        old = on_a.post("/auth/login", json={"username": "alice", "password": PASSWORD}).json()["access_token"]
        result = authgate("keys", "rotate", env=env)
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 30
        new = old
        while kid_of(new) == kid_of(old):
            assert time.monotonic() < deadline, "instance a did not start signing with the rotated key"
            time.sleep(1)
            on_a.get("/.well-known/jwks.json")  # reloads the key ring when it is older than 10 s
            new = on_a.post("/auth/login", json={"username": "alice", "password": PASSWORD}).json()["access_token"]
        # b has never seen the new key: it loads it on the unknown kid; tokens of the old key still verify.
        for token in (new, old):
            assert on_b.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
