"""The retention sweep (`domain/retention.py`) in the background of each serving worker, about every
`AUTHGATE_RETENTION_SWEEP_INTERVAL` seconds (each wait drawn between half and one and a half of it, so that the
workers of all instances drift apart instead of sweeping in step; the first one too, so a start, or a restart of
every worker at once, does not sweep at once). `authgate cleanup` runs one sweep from the command line (cron,
with the interval at 0)."""

from __future__ import annotations

import asyncio
import logging
import random

from authgate import background
from authgate.domain.retention import Retention

logger = logging.getLogger("authgate.retention")


class Sweeper:
    def __init__(self, retention: Retention, interval: float) -> None:
        self.retention = retention
        self.interval = interval
        self.sweeps = 0
        """Sweeps this worker finished (tests watch it)."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        await background.stop(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval * random.uniform(0.5, 1.5))  # noqa: S311  (a phase, not a secret)
            try:
                swept = await self.retention.sweep()
            except Exception as exc:  # the database may be away for a while; the next sweep will do
                logger.warning("the retention sweep failed: %s", f"{type(exc).__name__}: {exc}"[:300])
            else:
                self.sweeps += 1
                if swept.sessions or swept.audit_events or swept.passkey_challenges:
                    logger.info(
                        "retention sweep",
                        extra={
                            "event": "retention_sweep",
                            "sessions": swept.sessions,
                            "audit_events": swept.audit_events,
                            "passkey_challenges": swept.passkey_challenges,
                        },
                    )
