"""The outbox: a bounded queue of mail jobs, worked off in the background, each mail retried with back-off.

Requests only `submit()` (never waits); workers run the jobs (which may use the database and render the
templates), then hand each message to the mailer, trying up to `attempts` times with waits of 1, 2, 4, ...
seconds (at most `max_wait`). Nothing here logs a message's content, recipient or link: only its template
name and what went wrong. `stats` counts what happened, for metrics and `/health/ready`.

The queue lives in the worker process: mails still queued when the process is killed are lost (a user asks
again: "resend the link"); a graceful shutdown first waits a while for the queue to empty.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from authgate import background
from authgate.domain.mail import Mailer, MailError, MailJob, MailMessage, PermanentMailError

logger = logging.getLogger("authgate.mail")


class OutboxStats(msgspec.Struct):
    queued: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    """Mails given up on (every attempt failed, or the server refused for good)."""
    dropped: int = 0
    """Jobs refused because the queue was full (or the outbox closing)."""
    job_errors: int = 0
    """Jobs that raised before producing their mail (a database error, a template error)."""


def _describe(exc: BaseException) -> str:
    # Our own errors are written without content; anything else is named by its type only.
    return str(exc) if isinstance(exc, MailError) else type(exc).__name__


class MailOutbox:
    def __init__(
        self,
        mailer: Mailer,
        *,
        queue_size: int = 1000,
        attempts: int = 5,
        workers: int = 2,
        first_wait: float = 1.0,
        max_wait: float = 60.0,
    ) -> None:
        self.mailer = mailer
        self.attempts = attempts
        self.workers = workers
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.stats = OutboxStats()
        self._queue: asyncio.Queue[tuple[str, MailJob]] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    def start(self) -> None:
        """Start the workers (in the running event loop)."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._work(), name=f"mail-outbox-{i}") for i in range(self.workers)]

    def submit(self, job: MailJob, name: str) -> bool:
        if not self._closing:
            try:
                self._queue.put_nowait((name, job))
            except asyncio.QueueFull:
                pass
            else:
                self.stats.queued += 1
                return True
        self.stats.dropped += 1
        logger.error(
            "mail dropped: the outbox is %s", "closing" if self._closing else "full",
            extra={"event": "mail_dropped", "mail": name},
        )  # fmt: skip
        return False

    async def idle(self) -> None:
        """Wait until every job submitted so far has been worked off (sent, or given up on)."""
        await self._queue.join()

    async def close(self, timeout: float = 10.0) -> None:
        """Refuse new jobs, give the queued ones up to `timeout` seconds, then stop the workers."""
        self._closing = True
        if self._tasks:
            try:
                await asyncio.wait_for(self._queue.join(), timeout)
            except TimeoutError:
                logger.error(
                    "mail outbox closed with %d job(s) not worked off", self._queue.qsize(),
                    extra={"event": "mail_lost", "jobs": self._queue.qsize()},
                )  # fmt: skip
        await background.stop(*self._tasks)
        self._tasks = []

    async def _work(self) -> None:
        while True:
            name, job = await self._queue.get()
            try:
                await self._run(name, job)
            except Exception:  # a bug here must not stop the worker
                logger.exception("mail outbox error", extra={"event": "mail_job_failed", "mail": name})
            finally:
                self._queue.task_done()

    async def _run(self, name: str, job: MailJob) -> None:
        try:
            messages = await job()
        except Exception as exc:
            self.stats.job_errors += 1
            logger.error(
                "mail job failed: %s", _describe(exc), extra={"event": "mail_job_failed", "mail": name}, exc_info=exc
            )
            return
        for message in messages:
            await self._deliver(message)

    async def _deliver(self, message: MailMessage) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                await self.mailer.send(message)
            except Exception as exc:
                final = attempt == self.attempts or isinstance(exc, PermanentMailError)
                fields = {
                    "event": "mail_failed" if final else "mail_retry",
                    "mail": message.template,
                    "attempt": attempt,
                }
                if final:
                    self.stats.failed += 1
                    logger.error("mail not sent: %s", _describe(exc), extra=fields)
                    return
                self.stats.retried += 1
                wait = min(self.max_wait, self.first_wait * 2 ** (attempt - 1))
                logger.warning("mail not sent yet (%s); trying again in %g s", _describe(exc), wait, extra=fields)
                await asyncio.sleep(wait)
            else:
                self.stats.sent += 1
                logger.info("mail sent", extra={"event": "mail_sent", "mail": message.template, "attempt": attempt})
                return
