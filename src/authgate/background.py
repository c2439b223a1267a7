"""A worker's background tasks (the sweeper, the key sync, the change feed, the mail senders, ...): how they stop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger("authgate")


async def stop(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the tasks (None and finished ones are fine) and wait until each has ended. A task that had ended with
    an error is logged (`background_task_failed`) rather than raised, so that the rest of a shutdown still runs; a
    cancellation of the caller itself is raised."""
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
        except Exception:
            logger.exception(
                "background task %s had failed", task.get_name(), extra={"event": "background_task_failed"}
            )
