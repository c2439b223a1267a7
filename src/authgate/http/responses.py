"""Responses and the helpers that build them; encoders are built once."""

from __future__ import annotations

from typing import Any

import msgspec

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"

_encoder = msgspec.json.Encoder()


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else []


class Page(Response):
    """An HTML page: the security-headers middleware gives it the pages' headers (a CSP) instead of the API's."""

    __slots__ = ()


def json_response(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    out = [("content-type", JSON), ("cache-control", "no-store")]
    if headers:
        out += headers
    return Response(status, _encoder.encode(data), out)


def empty(status: int = 204, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, b"", headers or [])


def static_json(data: Any) -> bytes:
    """Encode a constant body once, at start-up."""
    return _encoder.encode(data)


def encode(data: Any) -> bytes:
    return _encoder.encode(data)
