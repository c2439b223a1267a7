"""The RSGI adapter, driven in process with a scope and a protocol shaped like Granian's: one `response_bytes`
call per request, and the peer's address (which Granian formats on every read) read only when something asks
for the client's address, and then once: the access log, the proxies in front, a login's rate limit."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from authgate.app import App, create_app
from helpers import PASSWORD, make_settings


class Scope:
    proto = "http"

    def __init__(self, method: str, path: str, headers: dict[str, str], client: str = "192.0.2.9:40000") -> None:
        self.method, self.path, self.query_string, self.headers = method, path, "", headers
        self._client = client
        self.client_reads = 0

    @property
    def client(self) -> str:
        self.client_reads += 1
        return self._client


class Protocol:
    def __init__(self, body: bytes = b"") -> None:
        self.body = body
        self.sent: list[tuple[int, list[tuple[str, str]], bytes]] = []

    async def __call__(self) -> bytes:
        return self.body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.sent.append((status, headers, body))


@asynccontextmanager
async def rsgi_app(sqlite_url: str, **overrides: Any) -> AsyncIterator[tuple[App, list[dict[str, Any]]]]:
    """A started app, and the list its access-log lines are in once the block has ended."""
    app = create_app(make_settings(sqlite_url, **overrides))
    read, app.access_log.fd = os.pipe()
    lines: list[dict[str, Any]] = []
    await app.startup()
    try:
        yield app, lines
    finally:
        await app.shutdown()
        os.close(app.access_log.fd)
        lines += [json.loads(line) for line in os.read(read, 1 << 16).decode().splitlines()]
        os.close(read)


async def call(app: App, scope: Scope, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    protocol = Protocol(body)
    await app.__rsgi__(scope, protocol)
    [(status, headers, sent)] = protocol.sent
    return status, dict(headers), sent


async def test_a_request_that_needs_no_address_never_reads_the_peer(sqlite_url: str) -> None:
    async with rsgi_app(sqlite_url, access_log=False) as (app, _):
        scope = Scope("GET", "/ping", {})
        status, headers, body = await call(app, scope)
        assert (status, json.loads(body)) == (200, {"message": "pong"})
        assert headers["content-type"] == "application/json" and headers["x-request-id"]
        assert scope.client_reads == 0


async def test_the_access_log_reads_the_peer_once(sqlite_url: str) -> None:
    async with rsgi_app(sqlite_url, access_log=True) as (app, lines):
        scope = Scope("GET", "/ping", {})
        assert (await call(app, scope))[0] == 200
        assert scope.client_reads == 1
    [line] = lines
    assert (line["route"], line["status"], line["client_ip"]) == ("/ping", 200, "192.0.2.9")


@pytest.mark.parametrize(
    ("peer", "forwarded", "logged"),
    [
        ("10.0.0.5:51000", "203.0.113.7", "203.0.113.7"),  # from a trusted proxy: what it reports
        ("[2001:db8::1]:51000", "203.0.113.7", "2001:db8::1"),  # from anyone else: the peer itself
    ],
)
async def test_behind_trusted_proxies_the_reported_address_wins(
    sqlite_url: str, peer: str, forwarded: str, logged: str
) -> None:
    async with rsgi_app(sqlite_url, access_log=True, trusted_proxies=["10.0.0.0/8"]) as (app, lines):
        scope = Scope("GET", "/ping", {"x-forwarded-for": forwarded}, client=peer)
        assert (await call(app, scope))[0] == 200
        assert scope.client_reads == 1
    [line] = lines
    assert line["client_ip"] == logged


async def test_a_login_reads_the_peer_once_for_its_limits_its_audit_and_its_line(sqlite_url: str) -> None:
    async with rsgi_app(sqlite_url, access_log=True) as (app, lines):
        body = json.dumps({"username": "alice", "email": "alice@example.com", "password": PASSWORD}).encode()
        headers = {"content-type": "application/json", "content-length": str(len(body))}
        assert (await call(app, Scope("POST", "/auth/register", headers), body))[0] == 201
        login = json.dumps({"username": "alice", "password": PASSWORD}).encode()
        scope = Scope("POST", "/auth/login", {"content-type": "application/json", "content-length": str(len(login))})
        status, _, sent = await call(app, scope, login)
        assert status == 200 and json.loads(sent)["access_token"]
        assert scope.client_reads == 1
    assert [(line["route"], line["client_ip"]) for line in lines][-1] == ("/auth/login", "192.0.2.9")
