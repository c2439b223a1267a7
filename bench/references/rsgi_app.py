"""The seed's three endpoints written directly on Granian's RSGI interface, with msgspec: no framework, no
middleware, no log. The floor under authgate, which runs on the same server and interface: what any request
costs on Granian before authgate does anything (its request object, routing, request id, security headers,
metrics, access log, problem+json errors).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec


class LoginRequest(msgspec.Struct):
    username: str
    password: str


_login = msgspec.json.Decoder(LoginRequest)
_JSON = [("content-type", "application/json")]
_PONG = b'{"message":"pong"}'
_TOKEN = b'{"token":"fake-jwt-token"}'
_INVALID_REQUEST = b'{"error":"invalid request"}'
_INVALID_CREDENTIALS = b'{"error":"invalid credentials"}'
_DATA = b'{"status":"success"}'


async def app(scope: Any, protocol: Any) -> None:
    if scope.proto != "http":
        return
    path = scope.path
    if path == "/ping":
        protocol.response_bytes(200, _JSON, _PONG)
    elif path == "/login" and scope.method == "POST":
        try:
            body = _login.decode(await protocol())
        except (msgspec.DecodeError, msgspec.ValidationError):
            protocol.response_bytes(400, _JSON, _INVALID_REQUEST)
            return
        if not body.username or not body.password:
            protocol.response_bytes(400, _JSON, _INVALID_REQUEST)
        elif body.username == "admin" and body.password == "secure123":
            protocol.response_bytes(200, _JSON, _TOKEN)
        else:
            protocol.response_bytes(401, _JSON, _INVALID_CREDENTIALS)
    elif path == "/api/data":
        await asyncio.sleep(0.01)
        protocol.response_bytes(200, _JSON, _DATA)
    else:
        protocol.response_bytes(404, _JSON, b'{"error":"not found"}')
