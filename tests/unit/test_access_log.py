"""The access log's writes: whole lines, at most PIPE_BUF bytes each (so workers sharing stdout never interleave
a line), one write per batch, every line once and in order; and its timestamps, the same as the other logs'."""

from __future__ import annotations

import asyncio
import json
import os
import random
from unittest import mock

from authgate.http.request import Request
from authgate.http.responses import Response
from authgate.observability.logging import PIPE_BUF, AccessLog, _iso


class RecordingLog(AccessLog):
    def __init__(self) -> None:
        super().__init__(fd=-1)
        self.writes: list[bytes] = []

    def _write(self, data: bytes | memoryview) -> None:
        self.writes.append(bytes(data))


def request(n: int, route: str = "/ping") -> Request:
    async def no_body(limit: int) -> bytes:
        return b""

    req = Request("GET", route, "", {}, no_body, None, _client_ip="192.0.2.1")  # type: ignore[arg-type]
    req.route, req.request_id = route, f"rid-{n}"
    return req


def check(log: RecordingLog, count: int) -> None:
    for chunk in log.writes:
        assert chunk.endswith(b"\n")
        assert len(chunk) <= PIPE_BUF or chunk.count(b"\n") == 1  # only a line longer than PIPE_BUF goes alone
    lines = b"".join(log.writes).splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == [f"rid-{n}" for n in range(count)]


async def test_a_full_batch_is_one_write_and_the_line_that_filled_it_waits_for_the_next() -> None:
    log = RecordingLog()
    line = 0
    while not log.writes:
        log.write(request(line), Response(200, b""), 0.001)
        line += 1
    assert len(log.writes) == 1  # not the batch and then the overflowing line in a second system call
    assert len(log.writes[0]) > PIPE_BUF - 250  # the batch was full
    assert log._buf.count(b"\n") == 1  # the line that did not fit is buffered
    for _ in range(200):
        log.write(request(line), Response(200, b""), 0.001)
        line += 1
    log.flush()
    check(log, line)
    assert len(log.writes) <= 2 + (200 * 250) // (PIPE_BUF - 250)


async def test_a_line_longer_than_pipe_buf_goes_alone_and_nothing_is_lost() -> None:
    log = RecordingLog()
    log.write(request(0), Response(200, b""), 0.001)
    log.write(request(1, route="/" + "x" * (PIPE_BUF + 100)), Response(404, b""), 0.001)
    log.write(request(2), Response(200, b""), 0.001)
    log.flush()
    check(log, 3)
    assert any(len(chunk) > PIPE_BUF for chunk in log.writes)


async def test_what_is_buffered_is_written_after_the_flush_interval() -> None:
    read, write = os.pipe()
    try:
        log = AccessLog(fd=write, flush_interval=0.01)
        log.write(request(0), Response(200, b""), 0.001)
        await asyncio.sleep(0.1)
        os.set_blocking(read, False)
        assert json.loads(os.read(read, PIPE_BUF))["request_id"] == "rid-0"
    finally:
        os.close(read)
        os.close(write)


def test_timestamps_read_as_the_other_logs_do_across_seconds_days_and_years() -> None:
    log = AccessLog(fd=-1)
    rng = random.Random(7)
    moments = [1_798_761_599.9994, 1_798_761_600.0004, 0.0004, 951_782_400.5004]  # a new year, 1970, 2000-02-29
    moments += [rng.randrange(0, 4_000_000_000_000) / 1000 + 0.0004 for _ in range(2000)]
    for first in moments:
        for moment in (first, first + 0.001, first):  # the next millisecond comes from the cached second
            with mock.patch("time.time", return_value=moment):
                assert log._timestamp() == _iso(moment), moment
