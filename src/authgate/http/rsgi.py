"""The RSGI adapter: Granian's protocol object in, our Request and Response through, bytes out."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from authgate.errors import PayloadTooLarge
from authgate.http.deadlines import BodyDeadlines
from authgate.http.request import Request, declared_length, peer_host

if TYPE_CHECKING:
    from authgate.app import App


async def read_body(protocol: Any, headers: Any, deadlines: BodyDeadlines, limit: int) -> bytes:
    """The request's `BodyReader`, bound to its protocol by `partial` (cheaper than a closure made per request)."""
    if declared_length(headers, limit) is not None:
        body: bytes = await deadlines.read(protocol())
        return body
    return await deadlines.read(_chunks(protocol, limit))


async def _chunks(protocol: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in protocol:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def peer(scope: Any, headers: Any) -> str:
    """The peer's address in Granian's scope (read by `Request.client_ip`, when asked)."""
    return peer_host(scope.client)


async def serve_rsgi(app: App, scope: Any, protocol: Any) -> None:
    if scope.proto != "http":
        return  # websockets are not part of this API; Granian closes the connection
    headers = scope.headers
    receive = partial(read_body, protocol, headers, app.body_deadlines)
    services = app._services  # the `services` property's check, without the cost of a call per request
    if services is None:
        raise RuntimeError("the app has not started")
    req = Request(scope.method, scope.path, scope.query_string, headers, receive, services, app.rsgi_address, scope)
    response = await app.handle(req)
    protocol.response_bytes(response.status, response.headers, response.body)
