"""The RSGI adapter: Granian's protocol object in, our Request and Response through, bytes out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authgate.errors import BadRequest, PayloadTooLarge
from authgate.http.deadlines import BodyDeadlines
from authgate.http.request import Request, peer_host

if TYPE_CHECKING:
    from authgate.app import App


def body_reader(protocol: Any, headers: Any, deadlines: BodyDeadlines) -> Any:
    async def read(limit: int) -> bytes:
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit() or len(length) > 12:
                raise BadRequest("Invalid Content-Length")
            if int(length) > limit:
                raise PayloadTooLarge(f"The body may be at most {limit} bytes")
            body: bytes = await deadlines.read(protocol())
            return body
        return await deadlines.read(_chunks(protocol, limit))

    return read


async def _chunks(protocol: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in protocol:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def serve_rsgi(app: App, scope: Any, protocol: Any) -> None:
    if scope.proto != "http":
        return  # websockets are not part of this API; Granian closes the connection
    headers = scope.headers
    peer = peer_host(scope.client)
    services = app.services
    receive = body_reader(protocol, headers, app.body_deadlines)
    req = Request(scope.method, scope.path, scope.query_string, headers, peer, receive, services)
    if app.proxy_trust.networks:
        req.client_ip = app.proxy_trust.client_ip(peer, headers)
    response = await app.handle(req)
    protocol.response_bytes(response.status, response.headers, response.body)
