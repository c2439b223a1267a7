"""Helpers for the HTTP tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol, TypeVar

import httpx

from authgate.config import Settings, load_settings

T = TypeVar("T")

FAST_HASH = {"password_hash_memory_kib": 64, "password_hash_time_cost": 1, "hash_pool_size": 2}
GENEROUS_LIMITS = {
    # The limits and back-off stay on (their code path runs in every test) but out of the way; the tests of
    # abuse resistance (tests/http/test_abuse.py) set their own.
    "rate_limits": "login:ip=100000/minute,account=100000/hour;register:ip=100000/minute;refresh:ip=100000/minute;"
    "email:ip=100000/minute,account=100000/hour;mfa:ip=100000/minute,account=100000/hour;"
    "password:account=100000/hour",
    "login_backoff_after": 1000,
}


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "access_log": False,
        "reject_common_passwords": True,
        **FAST_HASH,
        **GENEROUS_LIMITS,
    }
    values.update(overrides)
    return load_settings({}, **values)


async def _admin_exec(admin_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class PostgresDatabases:
    """Creates uniquely named databases on the test server and drops them all at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def create(self) -> str:
        name = f"authgate_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin_exec(self.admin_url, f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def drop_all(self) -> None:
        for name in self.created:
            asyncio.run(_admin_exec(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


PASSWORD = "Tr0ub4dor&3-horse"


async def register(
    client: httpx.AsyncClient, username: str = "alice", email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post(
        "/auth/register",
        json={"username": username, "email": email or f"{username}@example.com", "password": password},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class ResponseLike(Protocol):
    """An `httpx.Response`, or a `rawhttp.RawResponse`."""

    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    def json(self) -> Any: ...


def assert_problem(response: ResponseLike, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with this status and code, and the request id of the response."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    assert {"type", "title", "detail"} <= set(body)
    return body


BAD_JSON_BODIES: list[tuple[bytes, int, str]] = [
    # (body, status, code) for any endpoint that takes a JSON body: in process (tests/http/test_bad_input.py)
    # and over real HTTP (tests/reliability/test_hostile_input.py).
    (b"{", 400, "malformed_json"),
    (b'{"username": "a"', 400, "malformed_json"),
    (b"\xff\xfe\x00garbage", 400, "malformed_json"),
    # invalid UTF-8, in a field of every endpoint that BAD_JSON_BODIES is sent to
    (b'{"username": "\xc3\x28", "refresh_token": "\xc3\x28", "mfa_token": "\xc3\x28"}', 400, "malformed_json"),
    (b"", 400, "malformed_json"),
    (b"[1, 2, 3]", 422, "validation_failed"),
    (b'"text"', 422, "validation_failed"),
    (b"null", 422, "validation_failed"),
    (b"[" * 5000 + b"]" * 5000, 422, "validation_failed"),
    (b'{"a": ' * 3000 + b"1" + b"}" * 3000, 400, "malformed_json"),
]


def run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits for anything to its end, without an event loop (whose own objects would
    blur a test of references)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise AssertionError("the coroutine waited for something")
