"""One keep-alive HTTP/1.1 connection on raw asyncio streams that reads whole responses (status, headers, body).

For load that must carry state from one answer to the next request (tokens), at a few microseconds per
request where httpx spends milliseconds: on a 2-core machine shared with the server, the client must not be the
bottleneck. Like a real client it connects again after an error, and it tells whether a request went out on a
connection that had already served others (`reused`): when a server process dies, those are the requests a
real client library retries.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

import msgspec

_connection_ids = itertools.count(1)

TRANSPORT_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return msgspec.json.decode(self.body) if self.body else None

    @property
    def code(self) -> str | None:
        """The problem's `code` (RFC 9457 body), or None."""
        if not self.headers.get("content-type", "").startswith("application/problem+json"):
            return None
        body = self.json()
        return body.get("code") if isinstance(body, dict) else None


class RequestFailed(Exception):
    """No answer: the connection failed, was closed, or the answer took longer than the timeout."""

    def __init__(self, error: str, *, sent: bool) -> None:
        super().__init__(error)
        self.error = error
        self.sent = sent


class Connection:
    def __init__(self, host: str, port: int, *, timeout: float = 30) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.id = 0
        """Which TCP connection the last request went out on (a new one after every reconnect)."""
        self.served = 0
        """Requests answered on the current TCP connection."""
        self.reused = False
        """Whether the last request went out on a connection that had already served others."""
        self.sent_at = 0.0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        """Send one request and read its answer; `RequestFailed` when there is none (the connection is then
        closed, and the next request opens a new one)."""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        if body is not None:
            head.append("Content-Type: application/json")
            head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")
        self.sent_at = time.monotonic()
        if self._writer is None:
            try:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.timeout
                )
            except (OSError, TimeoutError) as exc:
                raise RequestFailed(type(exc).__name__, sent=False) from None
            self.id = next(_connection_ids)
            self.served = 0
            self.sent_at = time.monotonic()
        assert self._reader is not None
        self.reused = self.served > 0
        try:
            self._writer.write(data)
            reply = await asyncio.wait_for(_read_reply(self._reader), self.timeout)
        except TimeoutError:
            self.close()
            raise RequestFailed("Timeout", sent=True) from None
        except TRANSPORT_ERRORS as exc:
            self.close()
            raise RequestFailed(type(exc).__name__, sent=True) from None
        self.served += 1
        if reply.headers.get("connection", "").lower() == "close":
            self.close()
        return reply

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _read_reply(reader: asyncio.StreamReader) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        return Reply(status, headers, b"".join(chunks))
    length = int(headers.get("content-length", "0"))
    return Reply(status, headers, await reader.readexactly(length) if length else b"")
