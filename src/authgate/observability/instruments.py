"""What the composition root (`Services.start`) takes from observability: the worker's metrics and tracer.

Both are optional. The seams are wrapped once, at start: the database (a span per transaction / read and per
store call, when tracing) and the hash pool (the hash-duration histogram, the queue depth and refusals; a
span per hash). Nothing inside the stores or the use cases knows about any of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from authgate.domain.clock import Clock
from authgate.domain.passwords import HashPool, HashPriority
from authgate.errors import Overloaded

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from authgate.observability.metrics import Metrics
    from authgate.observability.tracing import Tracing
    from authgate.storage.base import Database

T = TypeVar("T")


class Instruments:
    def __init__(self, metrics: Metrics | None = None, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.tracing = tracing

    def database(self, db: Database) -> Database:
        if self.tracing is None:
            return db
        from authgate.observability.tracing import TracedDatabase

        return TracedDatabase(db, self.tracing.tracer)

    def hash_pool(self, threads: int, queue_size: int, priority: HashPriority = "idle") -> HashPool:
        if self.metrics is None and self.tracing is None:
            return HashPool(threads, queue_size, priority)
        return ObservedHashPool(
            threads,
            queue_size,
            priority,
            metrics=self.metrics,
            tracer=self.tracing.tracer if self.tracing else None,
        )

    def count_sessions_of(self, db: Database, clock: Clock) -> None:
        """Let the metrics count the active sessions now and then (`authgate_active_sessions`)."""
        if self.metrics is None:
            return

        async def count() -> int:
            async with db.reader() as r:
                return await r.sessions.count_active(clock())

        self.metrics.session_counter = count


class ObservedHashPool(HashPool):
    """The hash pool, timing each hash on its thread (not the wait for one), in wall-clock and CPU time, and
    counting what it refuses."""

    def __init__(
        self,
        threads: int,
        queue_size: int,
        priority: HashPriority,
        *,
        metrics: Metrics | None,
        tracer: Tracer | None,
    ) -> None:
        super().__init__(threads, queue_size, priority)
        self.metrics = metrics
        self.tracer = tracer

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        operation = getattr(fn, "__name__", "hash")
        metrics = self.metrics
        if metrics is not None and self.pending < self.capacity:
            metrics.hash_queued(max(0, self.pending + 1 - self.threads))
        took = [0.0, 0.0]  # seconds, and CPU seconds of the hashing thread

        def timed(*a: object) -> T:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*a)
            finally:
                took[0], took[1] = time.perf_counter() - start, time.thread_time() - cpu

        try:
            if self.tracer is None:
                return await super().run(timed, *args)
            with self.tracer.start_as_current_span("password_hash", attributes={"authgate.hash.operation": operation}):
                return await super().run(timed, *args)
        finally:
            if metrics is not None and took[0]:
                metrics.observe_hash(operation, took[0], took[1])

    async def shed_if_full(self) -> None:
        try:
            await super().shed_if_full()
        except Overloaded:
            if self.metrics is not None:
                self.metrics.hash_rejected()
            raise
