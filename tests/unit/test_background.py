"""Stopping a worker's background tasks (`authgate.background.stop`)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from authgate import background


async def test_it_cancels_running_tasks_and_waits_until_they_end() -> None:
    ended: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # cleaning up takes a turn of the loop
            ended.append(name)

    tasks = [asyncio.create_task(forever(name)) for name in ("a", "b")]
    await asyncio.sleep(0)
    await background.stop(*tasks, None)
    assert sorted(ended) == ["a", "b"] and all(t.cancelled() for t in tasks)
    await background.stop(*tasks)  # again: nothing left to do
    await background.stop()


async def test_a_task_that_ended_with_an_error_is_logged_and_the_others_still_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Raised, it would cut a shutdown short (the pools and files closed after it would stay open)."""

    async def broken() -> None:
        raise RuntimeError("the sweep failed")

    finished = asyncio.create_task(asyncio.sleep(0, "done"))
    failed = asyncio.create_task(broken(), name="sweeper")
    running = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.ERROR, logger="authgate"):
        await background.stop(finished, failed, running)
    assert running.cancelled()
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "background_task_failed"]
    assert "sweeper" in record.getMessage() and record.exc_info is not None
    assert "the sweep failed" in str(record.exc_info[1])


async def test_the_callers_own_cancellation_is_not_swallowed() -> None:
    """A close() cancelled while it waits for its tasks is cancelled, not finished as if nothing happened."""
    slow_to_end = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await slow_to_end.wait()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    closing = asyncio.create_task(background.stop(task))
    await asyncio.sleep(0.01)
    closing.cancel()
    slow_to_end.set()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert closing.cancelled()
