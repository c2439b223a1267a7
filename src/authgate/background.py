"""A worker's background tasks (the sweeper, the key sync, the change feed, the mail senders, ...): how they stop."""

from __future__ import annotations

import asyncio
from typing import Any


async def stop(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the tasks (None and finished ones are fine) and wait until each has ended. A task that ended with
    an error raises it here; their cancellation does not, but a cancellation of the caller itself still does."""
    ours = [task for task in tasks if task is not None]
    for task in ours:
        task.cancel()
    for task in ours:
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
