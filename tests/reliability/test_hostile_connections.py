"""Hostile connections against the real server (`authgate serve`, 2 workers): request heads past Granian's
limits, a JWT with a 1 MB header, bytes HTTP forbids, and clients that send a byte a second or nothing at all.

Granian (hyper underneath) parses the request head before authgate sees it. Where it refuses a request, the
answer is Granian's own, and asserted as such: a status, an empty body, no content type or request id,
`connection: close`, and the connection closed.

- a head over 512 KiB (one 600 KB header, or ninety of 10 KB): 431 Request Header Fields Too Large;
- more than 100 header lines (Host included): 431;
- a byte outside ASCII in the request line, or a NUL in a header value: 400 Bad Request;
- framing a request smuggler would use (two Content-Lengths, a signed or huge one, an unknown transfer coding,
  a folded header): 400; a request target of 100 KB: 414 URI Too Long; a Content-Length with chunks: the
  chunks win, and the connection is closed after the answer (which is authgate's);
- a client slower than AUTHGATE_HEADER_READ_TIMEOUT to send its head, a connection that sends nothing, or a
  kept-alive connection idle that long: the connection is closed without any answer (with HTTP/2 allowed, as
  Granian's default is, a connection that never sent a byte was never cut: it waited to learn the protocol);
- HTTP/2 (cleartext, prior knowledge) is not served: the connection is closed without an answer;
- a websocket upgrade: 403 with an empty body (authgate does not accept the websocket).

A head under the limit reaches authgate whatever its size (a 100 KB header, a 100 KB bearer token: 401 at once).
A body sent slowly is cut by authgate after AUTHGATE_BODY_READ_TIMEOUT: 408 `request_timeout`, connection closed.
Storage plays no part in any of this, so the server runs on SQLite.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from authgate.config import Settings
from helpers import PASSWORD, assert_problem
from liveapi import ADMIN, Target, percentile, record_figures, serve
from rawhttp import RawResponse, close, closed_within, exchange, read_response, request_head
from rawload import Load

pytestmark = pytest.mark.reliability

HEADER_TIMEOUT = 3
BODY_TIMEOUT = 3
SWEEP = 1.0  # authgate.http.deadlines.SWEEP_SECONDS


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    env = {"AUTHGATE_HEADER_READ_TIMEOUT": str(HEADER_TIMEOUT), "AUTHGATE_BODY_READ_TIMEOUT": str(BODY_TIMEOUT)}
    with serve(request, tmp_path_factory.mktemp("connections"), "sqlite", env=env) as t:
        yield t


def head(
    target: Target, method: str = "GET", path: str = "/ping", headers: list[tuple[str, str]] | None = None
) -> bytes:
    return request_head(method, path, f"{target.host}:{target.port}", headers or [])


def ask(target: Target, data: bytes | list[bytes], wait_close: float = 0.0) -> RawResponse:
    return asyncio.run(exchange(target.host, target.port, data, wait_close=wait_close))


def assert_granian_refuses(target: Target, data: bytes, status: int) -> None:
    """Granian's own answer, before authgate saw the request: the status, nothing else, the connection closed."""
    response = ask(target, data, wait_close=5.0)
    assert response.status_code == status, response
    assert response.content == b""
    assert "content-type" not in response.headers and "x-request-id" not in response.headers
    assert response.headers.get("connection") == "close" and response.closed


def assert_still_serving(target: Target) -> None:
    assert ask(target, head(target, headers=[("Connection", "close")])).status_code == 200


def test_a_100_kb_header_reaches_authgate(target: Target) -> None:
    pad = ask(target, head(target, headers=[("X-Pad", "a" * 100_000)]), wait_close=0.3)
    assert pad.status_code == 200 and not pad.closed  # an ordinary request: the connection stays open
    token = ask(target, head(target, path="/auth/me", headers=[("Authorization", "Bearer " + "a" * 100_000)]), 0)
    assert_problem(token, 401, "invalid_token")
    assert token.elapsed < 1.0
    request_id = ask(target, head(target, headers=[("X-Request-Id", "r" * 100_000)]), 0)
    assert request_id.status_code == 200 and len(request_id.headers["x-request-id"]) < 64


@pytest.mark.parametrize(
    "headers",
    [[("X-Pad", "a" * 600_000)], [("X-Pad", "a" * 1_000_000)], [(f"X-Pad-{i}", "b" * 10_000) for i in range(90)]],
    ids=["one-600KB", "one-1MB", "ninety-10KB"],
)
def test_a_head_over_512_kib_is_refused_by_granian_with_431(target: Target, headers: list[tuple[str, str]]) -> None:
    assert_granian_refuses(target, head(target, headers=headers), 431)
    assert_still_serving(target)


def test_more_than_100_header_lines_are_refused_by_granian_with_431(target: Target) -> None:
    lines = [(f"X-H{i}", "v") for i in range(99)]  # with Host: 100 lines
    assert ask(target, head(target, headers=lines), wait_close=0.3).status_code == 200
    assert_granian_refuses(target, head(target, headers=[*lines, ("X-One-More", "v")]), 431)
    assert_granian_refuses(target, head(target, headers=[(f"X-H{i}", "v") for i in range(5000)]), 431)
    assert_still_serving(target)


def _jwt_with_header_of(size: int) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = json.dumps({"alg": "EdDSA", "typ": "at+jwt", "kid": "k", "pad": "x" * size}).encode()
    return f"{b64(header)}.{b64(b'{}')}.{b64(bytes(64))}"


def test_a_jwt_with_a_1_mb_header(target: Target) -> None:
    huge = _jwt_with_header_of(1_000_000)
    # As a bearer token the head is over Granian's limit: refused before authgate reads a byte of it.
    assert_granian_refuses(target, head(target, path="/auth/me", headers=[("Authorization", f"Bearer {huge}")]), 431)
    # In a body, it is over AUTHGATE_MAX_BODY_BYTES: authgate's 413 on the Content-Length alone.
    form = f"token={huge}".encode()
    introspect = ask(
        target,
        head(target, "POST", "/auth/introspect", [
            ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", str(len(form))),
        ]),
        wait_close=5.0,
    )  # fmt: skip
    assert_problem(introspect, 413, "payload_too_large")
    assert introspect.closed and target.documented("POST", "/auth/introspect", 413, "payload_too_large")
    # Under Granian's limit (300 KB) it reaches authgate, which refuses it on its length without decoding it.
    large = ask(
        target, head(target, path="/auth/me", headers=[("Authorization", f"Bearer {_jwt_with_header_of(300_000)}")])
    )
    assert_problem(large, 401, "invalid_token")
    assert large.elapsed < 1.0
    assert_still_serving(target)


def test_bytes_that_http_forbids(target: Target) -> None:
    base = f"Host: {target.host}:{target.port}\r\nConnection: close\r\n"
    for request_line in ("GET /\xff HTTP/1.1", "GET /ping?q=\xff HTTP/1.1", "GET /ping\x00 HTTP/1.1"):
        assert_granian_refuses(target, f"{request_line}\r\n{base}\r\n".encode("latin-1"), 400)
    for value in ("a\x00b", "a\rb"):
        assert_granian_refuses(target, f"GET /ping HTTP/1.1\r\n{base}X-A: {value}\r\n\r\n".encode("latin-1"), 400)
    # Bytes 0x80-0xFF are allowed in a header value (obs-text), but a value that is not UTF-8 never reaches
    # authgate: Granian hands over no such header, so a bearer token of such bytes is a missing token.
    obs_text = f"GET /auth/me HTTP/1.1\r\n{base}Authorization: Bearer \xff\xfe\r\n\r\n".encode("latin-1")
    assert_problem(ask(target, obs_text), 401, "missing_token")
    # Percent-encoded, the same bytes are just data: a 404 of ours, not Granian's 400.
    assert_problem(
        ask(target, head(target, path="/users/%FF%00%27", headers=[*target.admin.items()])), 404, "user_not_found"
    )
    assert_still_serving(target)


REFRESH = b'{"refresh_token":"x"}'  # 21 bytes: any answer but 401 invalid_refresh_token is a framing surprise


@pytest.mark.parametrize(
    ("framing", "body", "granian_status"),
    [
        ("Content-Length: 21\r\nContent-Length: 5", REFRESH, 400),
        ("Content-Length: +21", REFRESH, 400),
        ("Content-Length: -1", REFRESH, 400),
        ("Content-Length: 99999999999999999999999", REFRESH, 400),
        ("Transfer-Encoding: xchunked", REFRESH, 400),
        ("X-A: a\r\n b", REFRESH, 400),  # obs-fold
    ],
    ids=["two-lengths", "plus-sign", "negative", "huge", "unknown-coding", "folded-header"],
)
def test_ambiguous_framing_is_refused_by_granian(
    target: Target, framing: str, body: bytes, granian_status: int
) -> None:
    """What a request smuggler sends (two readings of where a body ends): Granian refuses it outright."""
    data = head(target, "POST", "/auth/refresh", [("Content-Type", "application/json")])[:-2] + framing.encode()
    assert_granian_refuses(target, data + b"\r\n\r\n" + body, granian_status)


def test_a_length_and_chunks_together_are_read_as_chunks_and_the_connection_closed(target: Target) -> None:
    data = head(target, "POST", "/auth/refresh", [
        ("Content-Type", "application/json"), ("Content-Length", "4"), ("Transfer-Encoding", "chunked"),
    ]) + b"15\r\n" + REFRESH + b"\r\n0\r\n\r\n"  # fmt: skip
    response = ask(target, data, wait_close=5.0)
    assert_problem(response, 401, "invalid_refresh_token")  # the whole chunked body was the request's
    assert response.closed  # and nothing after it is read as another request (RFC 9112 6.1)


def test_a_request_target_of_100_kb_is_granians_414(target: Target) -> None:
    assert_granian_refuses(target, head(target, path="/" + "a" * 100_000), 414)


def _h2c_request(target: Target, headers: list[tuple[str, str]]) -> bytes:
    """An HTTP/2 request with prior knowledge (RFC 9113 3.3): the preface, SETTINGS, then HEADERS (split into
    CONTINUATION frames of 16 KiB) with every field a literal (HPACK, RFC 7541 6.2.2)."""

    def integer(value: int) -> bytes:  # a 7-bit prefix integer
        if value < 127:
            return bytes([value])
        out, value = [127], value - 127
        while value >= 128:
            out.append(value % 128 + 128)
            value //= 128
        return bytes([*out, value])

    def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload

    fields = [(":method", "GET"), (":scheme", "http"), (":path", "/ping"), (":authority", "x"), *headers]
    block = b"".join(b"\x00" + integer(len(k)) + k.encode() + integer(len(v)) + v.encode() for k, v in fields)
    parts = [block[i : i + 16384] for i in range(0, len(block), 16384)]
    frames = [frame(1 if i == 0 else 9, (1 if i == 0 else 0) | (4 if i == len(parts) - 1 else 0), 1, part)
              for i, part in enumerate(parts)]  # fmt: skip
    return b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + b"".join(frames)


@pytest.mark.parametrize("headers", [[], [("x-pad", "a" * 1_000_000)]], ids=["plain", "a-1MB-header"])
def test_http2_is_not_spoken(target: Target, headers: list[tuple[str, str]]) -> None:
    """authgate serves HTTP/1.1 only: Granian's HTTP/2 would take a 1 MB header (16 MiB lists, 200 streams a
    connection) past every HTTP/1 limit above. A client that starts HTTP/2 is closed on without a byte."""

    async def run() -> bytes:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        try:
            with contextlib.suppress(ConnectionError):
                writer.write(_h2c_request(target, headers))
                await writer.drain()
            try:
                return await asyncio.wait_for(reader.read(65536), 10)  # an HTTP/2 server would send SETTINGS
            except ConnectionResetError:  # closed on us while we were still sending
                return b""
        finally:
            await close(writer)

    assert asyncio.run(run()) == b""
    upgrade = ask(target, head(target, headers=[("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                                                ("HTTP2-Settings", "")]))  # fmt: skip
    assert upgrade.status_code == 200  # an HTTP/1.1 answer: no 101 Switching Protocols
    assert_still_serving(target)


def test_a_websocket_upgrade_is_refused(target: Target) -> None:
    """authgate has no websockets: it returns without accepting, and Granian answers 403 with an empty body."""
    upgrade = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
               ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]  # fmt: skip
    response = ask(target, head(target, path="/auth/me", headers=upgrade))
    assert response.status_code == 403 and response.content == b"" and "content-type" not in response.headers
    assert_still_serving(target)


# -- slow clients --------------------------------------------------------------------------------------------


async def _trickle(target: Target, first: bytes, rest: bytes) -> tuple[float, bytes]:
    """Send `first` at once and then `rest` one byte a second, until the server closes the connection; the
    seconds that took, and what the server sent."""
    reader, writer = await asyncio.open_connection(target.host, target.port)
    opened = time.monotonic()
    received = bytearray()

    async def read_all() -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                received.extend(chunk)

    reading = asyncio.create_task(read_all())
    try:
        writer.write(first)
        for byte in rest:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reading), 1.0)  # a byte a second until the server cuts
            if reading.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
        await asyncio.wait_for(reading, 30)
        return time.monotonic() - opened, bytes(received)
    finally:
        await close(writer)


async def _idle(target: Target, after_a_request: bool) -> float | None:
    """Seconds until the server cut a connection that sent nothing (or nothing after one request), or None."""
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        if after_a_request:
            writer.write(head(target))
            await read_response(reader)
        return await closed_within(reader, 2 * HEADER_TIMEOUT + 1)
    finally:
        await close(writer)


async def _normal_traffic(target: Target, seconds: float) -> tuple[list[float], list[float]]:
    """/ping on 4 connections and logins on 2 for `seconds`: the latencies (every answer must be 200)."""
    stop = time.monotonic() + seconds
    ping = Load(target.host, target.port, "/ping", connections=4, stop_at=stop)
    body = json.dumps({"username": ADMIN, "password": PASSWORD}).encode()
    login = Load(target.host, target.port, "/auth/login", connections=2, body=body, stop_at=stop)
    await asyncio.gather(ping.run(), login.run())
    for load in (ping, login):
        assert {o.status for o in load.outcomes} == {200}, {(o.status, o.error) for o in load.outcomes}
    return [o.latency or 0 for o in ping.outcomes], [o.latency or 0 for o in login.outcomes]


async def _under_slow_clients(target: Target, count: int) -> dict[str, object]:
    baseline_ping, baseline_login = await _normal_traffic(target, 2.0)
    slow_head = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: "
    body_head = head(target, "POST", "/auth/login", [("Content-Type", "application/json"), ("Content-Length", "100")])
    heads = [asyncio.create_task(_trickle(target, slow_head, b"a" * 100)) for _ in range(count)]
    bodies = [asyncio.create_task(_trickle(target, body_head, b" " * 100)) for _ in range(count)]
    idle = [asyncio.create_task(_idle(target, after_a_request=False)) for _ in range(count)]
    kept_alive = [asyncio.create_task(_idle(target, after_a_request=True)) for _ in range(5)]
    started = time.monotonic()
    await asyncio.sleep(0.3)  # let every slow client connect and begin
    during_ping, during_login = await _normal_traffic(target, 2.0)
    held = sum(not t.done() for t in heads + bodies + idle)
    measured_for = time.monotonic() - started
    head_cuts = await asyncio.gather(*heads)
    body_cuts = await asyncio.gather(*bodies)
    idle_cuts = await asyncio.gather(*idle)
    kept_alive_cuts = await asyncio.gather(*kept_alive)
    assert held == 3 * count, (
        f"only {held} of the {3 * count} slow connections were still open after {measured_for:.1f} s"
    )

    for elapsed, received in head_cuts:
        assert received == b""  # Granian closes without an answer
        assert HEADER_TIMEOUT - 0.5 <= elapsed <= HEADER_TIMEOUT + 3, elapsed
    for elapsed, received in body_cuts:
        response = _parse(received)
        assert_problem(response, 408, "request_timeout")
        assert response.headers["connection"] == "close"
        assert BODY_TIMEOUT - 0.5 <= elapsed <= BODY_TIMEOUT + SWEEP + 3, elapsed
    for cut in idle_cuts + kept_alive_cuts:
        assert cut is not None and HEADER_TIMEOUT - 0.5 <= cut <= HEADER_TIMEOUT + 3, cut
    # Not held: the other requests were answered all along, at about their usual latency.
    assert percentile(during_ping, 0.99) < max(0.25, 5 * percentile(baseline_ping, 0.99)), (during_ping, baseline_ping)
    assert statistics.median(during_login) < max(0.25, 5 * statistics.median(baseline_login))
    ms = 1000
    return {
        "slow_clients": {"head_one_byte_a_second": count, "body_one_byte_a_second": count, "idle": count},
        "ping_ms_before": {"p50": statistics.median(baseline_ping) * ms, "p99": percentile(baseline_ping, 0.99) * ms,
                           "requests": len(baseline_ping)},
        "ping_ms_during": {"p50": statistics.median(during_ping) * ms, "p99": percentile(during_ping, 0.99) * ms,
                           "requests": len(during_ping)},
        "login_ms_before": {"p50": statistics.median(baseline_login) * ms, "requests": len(baseline_login)},
        "login_ms_during": {"p50": statistics.median(during_login) * ms, "requests": len(during_login)},
        "slow_head_cut_s": _spread([e for e, _ in head_cuts]),
        "slow_body_cut_s": _spread([e for e, _ in body_cuts]),
        "kept_alive_idle_cut_s": _spread([c for c in kept_alive_cuts if c is not None]),
        "never_sent_a_byte_cut_s": _spread([c for c in idle_cuts if c is not None]),
        "timeouts_s": {"header_read": HEADER_TIMEOUT, "body_read": BODY_TIMEOUT},
    }  # fmt: skip


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _parse(received: bytes) -> RawResponse:
    match = re.match(rb"HTTP/1.1 (\d+) ([^\r]*)\r\n(.*?)\r\n\r\n(.*)", received, re.S)
    assert match, received[:300]
    headers = {}
    for line in match[3].decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(match[1]), match[2].decode(), headers, match[4])


def test_slow_clients_do_not_hold_the_workers_and_are_cut(target: Target) -> None:
    figures = asyncio.run(_under_slow_clients(target, count=50))
    record_figures("slow-clients", figures)
    assert_still_serving(target)


def test_nginx_drops_idle_upstream_connections_before_authgate_does() -> None:
    """authgate closes a kept-alive connection idle for AUTHGATE_HEADER_READ_TIMEOUT (measured above); nginx
    must give up its idle upstream connections sooner, or it may send a request down one as authgate closes it
    (a 502 that nginx does not retry for a POST)."""
    conf = (Path(__file__).parents[2] / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream authgate \{(.*?)\}", conf, re.S)
    assert upstream is not None
    timeout = re.search(r"keepalive_timeout (\d+)s;", upstream[1])
    assert timeout is not None, "set keepalive_timeout in the upstream block (nginx's default is 60 s)"
    assert int(timeout[1]) < Settings().header_read_timeout
