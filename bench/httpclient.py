"""A small blocking HTTP/1.1 client for correctness checks and fixtures (never for load: wrk does that)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any


class CheckFailed(Exception):
    """A server answered an endpoint wrongly."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def call(
    port: int, method: str, path: str, body: object | None = None, token: str | None = None, timeout: float = 30.0
) -> Reply:
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, response.read())
    finally:
        conn.close()


def expect(reply: Reply, status: int, what: str) -> Any:
    """The decoded JSON body when `reply` has `status` and a JSON body; otherwise CheckFailed naming `what`."""
    data = reply.json()
    if reply.status != status or data is None:
        raise CheckFailed(f"{what}: expected {status} with a JSON body, got {reply.status}: {reply.body[:300]!r}")
    return data
