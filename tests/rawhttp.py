"""HTTP/1.1 exchanges on raw asyncio streams, for requests that an HTTP client would refuse to send or tidy up
(a lying Content-Length, bytes outside ASCII in a header, a thousand headers, a body sent a byte a second).

`exchange` writes the request while it reads, so that a server answering before the whole body has arrived
(413 on the Content-Length alone) is seen answering; it then reports whether the server closed the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class RawResponse:
    """What came back, with the attributes of an `httpx.Response` that `helpers.assert_problem` reads."""

    status_code: int
    reason: str
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    content: bytes
    closed: bool = False
    """The server closed the connection after this response (end of file, or a reset)."""
    elapsed: float = 0.0
    """Seconds from the start of the exchange to the end of the response."""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class NoResponse(Exception):
    """The connection ended, or the time ran out, before a whole response came back."""

    def __init__(self, reason: str, received: bytes = b"") -> None:
        super().__init__(f"{reason}; received {received[:200]!r}")
        self.reason = reason
        self.received = received


def request_head(method: str, path: str, host: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", errors="surrogateescape")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str], bytes]:
    """One response: status, reason, headers (lower-case names) and the body (Content-Length framed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    _, status, reason = [*lines[0].split(" ", 2), ""][:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return int(status), reason, headers, body


async def exchange(
    host: str, port: int, request: bytes | Iterable[bytes], *, timeout: float = 10.0, wait_close: float = 2.0
) -> RawResponse:
    """Send `request` (bytes, or parts written one after another) on a new connection and read one response;
    then wait up to `wait_close` seconds to see whether the server closes the connection.

    Raises NoResponse when no whole response came back within `timeout` seconds."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    parts = [request] if isinstance(request, bytes) else request

    async def send() -> None:
        with contextlib.suppress(ConnectionError):  # the server may answer and close before all is sent
            for part in parts:
                writer.write(part)
                await writer.drain()

    sending = asyncio.create_task(send())
    try:
        try:
            status, reason, headers, body = await asyncio.wait_for(read_response(reader), timeout)
        except asyncio.IncompleteReadError as exc:
            raise NoResponse("the connection ended", exc.partial) from None
        except ConnectionError as exc:
            raise NoResponse(f"the connection was {type(exc).__name__}") from None
        except TimeoutError:
            raise NoResponse(f"no response in {timeout} s") from None
        elapsed = time.monotonic() - started
        return RawResponse(status, reason, headers, body, await _closed(reader, wait_close), elapsed)
    finally:
        sending.cancel()
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await sending
        await close(writer)


async def simultaneous(host: str, port: int, requests: list[bytes], timeout: float = 60) -> list[RawResponse]:
    """Open a connection per request, and only once all are open write every request at once: as close to
    simultaneous as a client can make them. The answers, in the order of `requests`."""
    connections = await asyncio.gather(*(asyncio.open_connection(host, port) for _ in requests))
    started = time.monotonic()
    for (_, writer), request in zip(connections, requests, strict=True):
        writer.write(request)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> RawResponse:
        try:
            status, reason, headers, body = await asyncio.wait_for(read_response(reader), timeout)
            return RawResponse(status, reason, headers, body, elapsed=time.monotonic() - started)
        finally:
            await close(writer)

    return list(await asyncio.gather(*(answer(r, w) for r, w in connections)))


async def close(writer: asyncio.StreamWriter) -> None:
    """Close our end and wait until it is closed (a reset by the server is no error here)."""
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _closed(reader: asyncio.StreamReader, wait: float) -> bool:
    """Whether the server closes the connection within `wait` seconds (anything it sends meanwhile is read)."""
    if wait <= 0:
        return False
    deadline = time.monotonic() + wait
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not await asyncio.wait_for(reader.read(65536), left):
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return False


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> float | None:
    """Seconds until the server closed the connection (whatever it sent first is read and dropped), or None
    when it is still open after `seconds`."""
    started = time.monotonic()
    return (time.monotonic() - started) if await _closed(reader, seconds) else None


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (Linux /proc)."""
    found = [pid]
    for current in found:
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def rss_mib(pid: int) -> float:
    """The resident memory of one process, MiB (0 when it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
