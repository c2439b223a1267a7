"""A small HTTP/1.1 load generator on raw asyncio streams (keep-alive, one request at a time per connection).

httpx spends milliseconds of CPU per request, which on a busy 2-core machine makes the client, not the server,
the bottleneck; this one costs a few microseconds, and it records exactly when each request was *sent*, which
is what the drain tests judge by.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from rawhttp import read_response


@dataclass
class Outcome:
    sent_at: float
    """When the request's bytes were written (monotonic), or when the connection attempt began."""
    status: int | None
    error: str | None = None
    sent: bool = True
    """False: the connection could not be made (nothing was sent)."""
    latency: float | None = None
    """Seconds from sending the request to the end of its response (None: no response)."""


@dataclass
class Load:
    host: str
    port: int
    path: str
    connections: int
    body: bytes | None = None
    """A JSON body to POST (else GET)."""
    headers: dict[str, str] = field(default_factory=dict)
    stop_at: float = float("inf")
    outcomes: list[Outcome] = field(default_factory=list)

    async def run(self) -> None:
        await asyncio.gather(*(self._connection() for _ in range(self.connections)))

    async def _connection(self) -> None:
        extra = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        if self.body is None:
            request = f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}\r\n".encode()
        else:
            request = (
                f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}"
                f"Content-Type: application/json\r\nContent-Length: {len(self.body)}\r\n\r\n"
            ).encode() + self.body
        while time.monotonic() < self.stop_at:
            began = time.monotonic()
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                self.outcomes.append(Outcome(began, None, type(exc).__name__, sent=False))
                await asyncio.sleep(0.02)
                continue
            try:
                while time.monotonic() < self.stop_at:
                    writer.write(request)
                    sent_at = time.monotonic()
                    try:
                        status, _, headers, _ = await asyncio.wait_for(read_response(reader), 30)
                    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                        self.outcomes.append(Outcome(sent_at, None, type(exc).__name__))
                        break
                    self.outcomes.append(Outcome(sent_at, status, latency=time.monotonic() - sent_at))
                    if headers.get("connection", "").lower() == "close":
                        break  # the server ends the connection here (nginx: after keepalive_requests, 1000)
            finally:
                writer.close()
