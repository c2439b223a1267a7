"""The body-read deadline (http/deadlines.py): a read past it raises RequestTimeout, and nothing else changes."""

from __future__ import annotations

import asyncio
import time

import pytest

from authgate.errors import RequestTimeout
from authgate.http.deadlines import BodyDeadlines


async def _never() -> bytes:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def _soon(value: bytes) -> bytes:
    await asyncio.sleep(0.01)
    return value


async def test_a_read_in_time_returns_its_body() -> None:
    deadlines = BodyDeadlines(timeout=1, interval=0.01)
    deadlines.start()
    try:
        assert await deadlines.read(_soon(b"body")) == b"body"
        assert deadlines._reading == {} and deadlines._expired == set()
    finally:
        await deadlines.close()


async def test_a_read_past_the_deadline_is_a_request_timeout_and_the_task_goes_on() -> None:
    deadlines = BodyDeadlines(timeout=0.2, interval=0.05)
    deadlines.start()
    try:
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            await deadlines.read(_never())
        assert 0.2 <= time.monotonic() - started < 1.0
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0.01)  # the request goes on to answer 408: it is not cancelled any more
        assert deadlines._reading == {} and deadlines._expired == set()
    finally:
        await deadlines.close()


async def test_another_cancellation_is_not_turned_into_a_timeout() -> None:
    deadlines = BodyDeadlines(timeout=10, interval=0.05)
    deadlines.start()
    try:
        reading = asyncio.create_task(deadlines.read(_never()))
        await asyncio.sleep(0.05)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        assert deadlines._reading == {}
    finally:
        await deadlines.close()


async def test_many_reads_only_the_slow_ones_time_out() -> None:
    deadlines = BodyDeadlines(timeout=0.2, interval=0.05)
    deadlines.start()
    try:
        results = await asyncio.gather(
            *(deadlines.read(_never() if i % 2 else _soon(b"ok")) for i in range(20)), return_exceptions=True
        )
        assert [r == b"ok" if i % 2 == 0 else isinstance(r, RequestTimeout) for i, r in enumerate(results)] == [
            True
        ] * 20
    finally:
        await deadlines.close()


async def test_without_a_started_sweep_there_is_no_deadline() -> None:
    deadlines = BodyDeadlines(timeout=0.05, interval=0.01)
    assert await deadlines.read(_soon(b"late but fine")) == b"late but fine"
    reading = asyncio.create_task(deadlines.read(_never()))
    await asyncio.sleep(0.2)
    assert not reading.done()
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
