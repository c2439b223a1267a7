"""The ASGI adapter over the same handlers: for uvicorn users and for in-process tests (httpx)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from authgate.errors import PayloadTooLarge
from authgate.http.deadlines import BodyDeadlines
from authgate.http.request import Request, declared_length

if TYPE_CHECKING:
    from authgate.app import App

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("authgate")


class AsgiHeaders:
    __slots__ = ("_map",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._map: dict[str, str] = {}
        for key, value in raw:
            name = key.decode("latin-1").lower()
            text = value.decode("latin-1")
            self._map[name] = f"{self._map[name]}, {text}" if name in self._map else text

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._map.get(key, default)


def body_reader(receive: Receive, headers: AsgiHeaders, deadlines: BodyDeadlines) -> Callable[[int], Awaitable[bytes]]:
    async def read(limit: int) -> bytes:
        declared_length(headers, limit)
        return await deadlines.read(_messages(receive, limit))

    return read


async def _messages(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body may be at most {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def peer(scope: Scope, headers: Any) -> str:
    """The peer's address in an ASGI scope ("" when the server does not say)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


async def serve_asgi(app: App, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(app, receive, send)
        return
    if scope["type"] != "http":
        return
    headers = AsgiHeaders(scope["headers"])
    query = scope.get("query_string", b"").decode("latin-1")
    receive_body = body_reader(receive, headers, app.body_deadlines)
    req = Request(scope["method"], scope["path"], query, headers, receive_body, app.services, app.asgi_address, scope)
    response = await app.handle(req)
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
        }
    )
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(app: App, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await app.startup()
            except Exception as exc:
                logger.exception("start-up failed")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await app.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
