"""The client against the real authgate (`python -m authgate serve`, Granian, SQLite): a real Flask app and a
real FastAPI app protected by it, with tokens the server issued."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from protected_apps import Call, serve

from authgate.client import TokenVerifier
from authgate.client.tokens import b64url_decode
from liveserver import LiveServer, authgate, live_server

PASSWORD = "a-long-and-unusual-passphrase"


class Live:
    def __init__(self, server: LiveServer, env: dict[str, str]) -> None:
        self.server = server
        self.url = server.url
        self.env = env
        self.http = httpx.Client(base_url=server.url, timeout=10)

    def login(self, username: str) -> str:
        answer = self.http.post("/auth/login", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def logout(self, token: str) -> None:
        assert self.http.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live-authgate")
    env = {"AUTHGATE_DATABASE_URL": f"sqlite:///{tmp / 'authgate.db'}", "AUTHGATE_REJECT_COMMON_PASSWORDS": "false"}
    for name, admin in (("root", ["--admin"]), ("alice", [])):
        created = authgate(
            "create-user", name, "--email", f"{name}@example.com", *admin, "--password-stdin", env=env, stdin=PASSWORD
        )
        assert created.returncode == 0, created.stderr
    with live_server(env, Path(tmp)) as server:
        live = Live(server, env)
        try:
            yield live
        finally:
            live.http.close()


@pytest.fixture(params=["flask", "fastapi"])
def protect(request: pytest.FixtureRequest, live: Live) -> Iterator[Any]:
    with ExitStack() as stack:
        yield lambda **options: serve(request.param, TokenVerifier(live.url, **options), stack)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def kid_of(token: str) -> str:
    kid: str = json.loads(b64url_decode(token.split(".")[0]))["kid"]
    return kid


def assert_invalid_token(app: Call, token: str) -> None:
    answer = app("/me", bearer(token))
    assert answer.status == 401, answer.body
    assert answer.body["code"] == "invalid_token"
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_a_valid_token(protect: Any, live: Live) -> None:
    token = live.login("alice")
    me = live.http.get("/auth/me", headers={"Authorization": bearer(token)}).json()
    answer = protect()("/me", bearer(token))
    assert answer.status == 200
    assert answer.body["sub"] == me["id"]
    assert answer.body["roles"] == ["user"]


def test_an_expired_token(protect: Any, live: Live) -> None:
    app = protect(clock=lambda: time.time() + 3600)  # the server's 15-minute tokens, seen an hour later
    assert_invalid_token(app, live.login("alice"))


def test_a_wrong_audience(protect: Any, live: Live) -> None:
    assert_invalid_token(protect(audience="billing"), live.login("alice"))


def test_roles(protect: Any, live: Live) -> None:
    app = protect()
    assert app("/admin", bearer(live.login("alice"))).status == 403
    assert app("/admin", bearer(live.login("root"))).status == 200


def test_a_revoked_session_with_and_without_introspection(protect: Any, live: Live) -> None:
    token = live.login("alice")
    without, with_introspection = protect(), protect(introspect=True, introspection_ttl=0)
    assert without("/me", bearer(token)).status == 200
    assert with_introspection("/me", bearer(token)).status == 200
    live.logout(token)
    assert without("/me", bearer(token)).status == 200  # until the token expires
    assert_invalid_token(with_introspection, token)


def test_a_rotated_key(live: Live, tmp_path: Path) -> None:
    """`authgate keys rotate`: the server signs with the new key once its key ring reloads (it does so when
    the JWKS is fetched, at most every 10 s); services pick the key up on the unknown kid."""
    with ExitStack() as stack:
        clock = [time.monotonic()]
        apps = [serve(fw, TokenVerifier(live.url, monotonic=lambda: clock[0]), stack) for fw in ("flask", "fastapi")]
        old = live.login("alice")
        for app in apps:
            assert app("/me", bearer(old)).status == 200
        rotated = authgate("keys", "rotate", env=live.env)
        assert rotated.returncode == 0, rotated.stderr
        deadline = time.monotonic() + 30
        new = old
        while kid_of(new) == kid_of(old):
            assert time.monotonic() < deadline, "authgate did not start signing with the rotated key"
            time.sleep(0.5)
            live.http.get("/.well-known/jwks.json")
            new = live.login("alice")
        clock[0] += 30  # past the refetch rate limit since the services' first fetch
        for app in apps:
            assert app("/me", bearer(new)).status == 200
            assert app("/me", bearer(old)).status == 200
