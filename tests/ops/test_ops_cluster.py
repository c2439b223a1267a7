"""Beyond one machine: Debian's nginx in front of two `authgate serve` instances on one PostgreSQL and one Redis.

Whichever instance a client reaches, it sees the same users, sessions, refresh-token rotation and signing keys;
a key rotated through one is published by the other at once (Redis pub/sub); and stopping one instance under
load loses no request that nginx can retry, and no data.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from abuse_helpers import need_redis, unique_prefix
from helpers import PostgresDatabases, bearer
from liveserver import LiveServer, authgate, live_server
from nginxproxy import PROXY_ADDRESS, nginx
from rawload import Load

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

PASSWORD = "a-long-and-unusual-passphrase"


@dataclass
class Cluster:
    a: LiveServer
    b: LiveServer
    proxy: str
    env: dict[str, str]


@contextlib.contextmanager
def cluster(databases: PostgresDatabases, tmp_path: Path, workers_a: int = 2) -> Iterator[Cluster]:
    redis_url = need_redis()
    prefix = unique_prefix()
    env = {
        "AUTHGATE_DATABASE_URL": databases.create(),
        "AUTHGATE_REDIS_URL": redis_url,
        "AUTHGATE_REDIS_PREFIX": prefix,
        "AUTHGATE_ISSUER": "https://auth.example.test",  # one deployment, one issuer
        "AUTHGATE_TRUSTED_PROXIES": PROXY_ADDRESS,
        "AUTHGATE_REFRESH_GRACE_SECONDS": "0",
        "AUTHGATE_MAIL_DIR": str(tmp_path),
    }
    created = authgate(
        "create-user", "root", "--email", "root@example.com", "--admin", "--password-stdin", env=env, stdin=PASSWORD
    )
    assert created.returncode == 0, created.stderr
    try:
        with (
            live_server(env, tmp_path, workers=workers_a) as a,
            live_server(env, tmp_path, workers=1) as b,
            nginx([a.url.removeprefix("http://"), b.url.removeprefix("http://")], tmp_path) as proxy,
        ):
            yield Cluster(a, b, proxy, env)
    finally:
        _drop_prefix(redis_url, prefix)


def _drop_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def two(postgres_databases: PostgresDatabases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(postgres_databases, tmp_path_factory.mktemp("cluster")) as c:
        yield c


def register_and_login(url: str, name: str) -> dict[str, str]:
    with httpx.Client(base_url=url) as c:
        registered = c.post(
            "/auth/register", json={"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        response = c.post("/auth/login", json={"username": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        body: dict[str, str] = response.json()
        return body


def kid_of(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    kid: str = header["kid"]
    return kid


def test_a_token_issued_through_one_is_accepted_by_the_other(two: Cluster) -> None:
    pair = register_and_login(two.a.url, "alice")
    me = httpx.get(two.b.url + "/auth/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200 and me.json()["username"] == "alice"
    refreshed = httpx.post(two.b.url + "/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    assert httpx.get(two.a.url + "/auth/me", headers=bearer(refreshed.json()["access_token"])).status_code == 200


def test_logout_on_one_is_refused_on_the_other_as_soon_as_the_database_tells_it(two: Cluster) -> None:
    """Each worker of B holds the session in its cache (it checked it); A's logout reaches them through
    PostgreSQL's notification, in milliseconds, and from then on every answer is a refusal."""
    pair = register_and_login(two.b.url, "bob")
    headers = bearer(pair["access_token"])
    with httpx.Client() as b:
        for _ in range(8):  # through both of B's workers
            assert b.get(two.b.url + "/auth/me", headers=headers).status_code == 200
        assert httpx.post(two.a.url + "/auth/logout", headers=headers).status_code == 204
        started = time.monotonic()
        answers = []
        while time.monotonic() - started < 0.5 and len(answers) < 400:
            answers.append(b.get(two.b.url + "/auth/me", headers=headers, timeout=5).status_code)
            if answers[-8:] == [401] * 8:
                break
    assert answers[-8:] == [401] * 8, answers
    first_refusal = answers.index(401)
    assert answers[first_refusal:] == [401] * (len(answers) - first_refusal)  # never valid again once refused
    refused = httpx.get(two.b.url + "/auth/me", headers=headers)
    assert refused.status_code == 401 and refused.json()["code"] == "session_ended"


def test_a_refresh_rotated_on_one_cannot_be_reused_on_the_other(two: Cluster) -> None:
    first = register_and_login(two.a.url, "carol")
    second = httpx.post(two.a.url + "/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()
    reused = httpx.post(two.b.url + "/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["code"] == "refresh_token_reused"
    # reuse detection ended the session everywhere: the thief's and the owner's newest tokens alike
    after = httpx.post(two.a.url + "/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401 and after.json()["code"] == "session_ended"
    assert httpx.get(two.a.url + "/auth/me", headers=bearer(second["access_token"])).status_code == 401


def jwks_kids(url: str) -> list[str]:
    return [k["kid"] for k in httpx.get(url + "/.well-known/jwks.json").json()["keys"]]


def test_a_key_rotated_on_one_is_published_by_the_other_at_once(two: Cluster) -> None:
    before = jwks_kids(two.b.url)
    rotated = authgate("keys", "rotate", env=two.env)  # on any machine with the deployment's settings
    assert rotated.returncode == 0, rotated.stderr
    kid = re.search(r"new signing key (\S+);", rotated.stdout).group(1)  # type: ignore[union-attr]
    assert kid not in before
    announced = time.monotonic()
    seen: dict[str, float] = {}
    while len(seen) < 3 and time.monotonic() - announced < 5:
        for name, url in (("a", two.a.url), ("b", two.b.url), ("proxy", two.proxy)):
            if name not in seen and kid in jwks_kids(url):
                seen[name] = time.monotonic() - announced
        time.sleep(0.02)
    # through Redis, not the JWKS' own reload (at most every 2 s): well within a second everywhere
    assert set(seen) == {"a", "b", "proxy"} and max(seen.values()) < 1.0, seen
    assert set(before) <= set(jwks_kids(two.b.url))  # the old key still verifies the tokens it signed
    # every worker of both instances signs with the new key now, and the other instance accepts the tokens
    for signer, verifier in ((two.a, two.b), (two.b, two.a), (two.a, two.b), (two.b, two.a)):
        token = httpx.post(signer.url + "/auth/login", json={"username": "root", "password": PASSWORD}).json()
        assert kid_of(token["access_token"]) == kid
        assert httpx.get(verifier.url + "/auth/me", headers=bearer(token["access_token"])).status_code == 200


def test_the_client_address_comes_through_nginx_and_a_forged_one_does_not(two: Cluster) -> None:
    forged = {"X-Forwarded-For": "198.51.100.7", "X-Real-IP": "198.51.100.7"}
    register_and_login(two.proxy, "dave")
    for url in (two.proxy, two.a.url):  # through nginx (a trusted proxy), and straight from an untrusted peer
        with httpx.Client(base_url=url, headers=forged) as c:
            token = c.post("/auth/login", json={"username": "dave", "password": PASSWORD}).json()["access_token"]
            sessions = c.get("/auth/sessions", headers=bearer(token)).json()["items"]
        (current,) = [s for s in sessions if s["current"]]
        # nginx saw the client at 127.0.0.1 and connected from 127.0.0.2; the client's own header is ignored
        assert current["ip"] == "127.0.0.1", url


async def _stop_one_under_load(c: Cluster, token: str) -> tuple[Load, dict[str, int], float]:
    """Reads (GET /auth/me) and writes (registrations) through nginx; SIGTERM instance a in the middle."""
    port = int(c.proxy.rsplit(":", 1)[1])
    reads = Load("127.0.0.1", port, "/auth/me", connections=16, headers=bearer(token))
    reads_task = asyncio.create_task(reads.run())
    registered: dict[str, int] = {}

    async def write_users() -> None:
        async with httpx.AsyncClient(base_url=c.proxy, timeout=30) as client:
            i = 0
            while time.monotonic() < reads.stop_at:
                name = f"user{i}"
                response = await client.post(
                    "/auth/register", json={"username": name, "email": f"{name}@example.com", "password": PASSWORD}
                )
                registered[name] = response.status_code
                i += 1

    writes_task = asyncio.create_task(write_users())
    await asyncio.sleep(1.5)
    stopped_at = time.monotonic()
    c.a.process.send_signal(signal.SIGTERM)
    while c.a.process.poll() is None and time.monotonic() - stopped_at < 20:
        await asyncio.sleep(0.05)
    reads.stop_at = time.monotonic() + 1.5
    await asyncio.gather(reads_task, writes_task)
    return reads, registered, stopped_at


def test_stopping_one_instance_loses_no_retryable_request_and_no_data(
    postgres_databases: PostgresDatabases, tmp_path: Path
) -> None:
    with cluster(postgres_databases, tmp_path) as c:
        pair = register_and_login(c.proxy, "erin")
        reads, registered, stopped_at = asyncio.run(_stop_one_under_load(c, pair["access_token"]))
        assert c.a.process.returncode == 0
        # every read was answered, before, during and after the stop (nginx retried what met the closing instance)
        statuses = Counter(o.status for o in reads.outcomes)
        assert statuses.keys() == {200}, statuses
        assert sum(1 for o in reads.outcomes if o.sent_at > stopped_at) > 50
        # and no data was lost: each registration answered 201 is there, through the instance left
        created = [name for name, status in registered.items() if status == 201]
        assert len(created) >= 5 and set(registered.values()) <= {201, 502}, Counter(registered.values())
        with httpx.Client(base_url=c.proxy) as client:
            token = client.post("/auth/login", json={"username": "root", "password": PASSWORD}).json()["access_token"]
            for name in created:
                found = client.get("/users", params={"q": name, "limit": 5}, headers=bearer(token)).json()
                assert name in [u["username"] for u in found["items"]], name
            assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 200
            refreshed = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            assert refreshed.status_code == 200
