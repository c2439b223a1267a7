"""Prometheus metrics, summed over every worker process.

Per request a worker only adds to plain Python numbers it keeps for itself (a dict lookup, a bisect and three
additions: no lock, no file, no system call). At most once a second, and at exit, it writes its running totals
into its own files in the metrics directory, in the file format of prometheus-client's multiprocess mode
(`counter_<pid>.db`, `histogram_<pid>.db`, `gauge_<mode>_<pid>.db`). Whoever serves `/metrics` (any worker on
the main port, or the main process on `AUTHGATE_METRICS_PORT`) sums the files of every worker with
prometheus-client's `MultiProcessCollector`, so the numbers are those of the whole instance, workers that have
exited included (counters never go back), while gauges count only the workers alive.

Labels are bounded: the route *template* (`/users/{user_id}`, never the raw path; `unmatched` for a path no route
has), the method (unknown ones become `other`), the status, error codes and event names from the code.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import shutil
import tempfile
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, mmap_dict, multiprocess, utils
from prometheus_client.mmap_dict import mmap_key

from authgate import errors

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from authgate.http.request import Request
    from authgate.http.responses import Response

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "render"]

# prometheus-client's multiprocess file format (untyped there): a dict of doubles in an mmap'd file, its reader.
MmapedDict: Any = mmap_dict.MmapedDict
MultiProcessCollector: Any = multiprocess.MultiProcessCollector
float_to_go_string: Callable[[float], str] = utils.floatToGoString

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HASH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
FLUSH_INTERVAL = 1.0
SESSIONS_INTERVAL = 30.0
"""How often one worker of the instance counts the active sessions (a query on the sessions table)."""

SessionCounter = Callable[[], Awaitable[int]]

logger = logging.getLogger("authgate.metrics")


class _Counter:
    __slots__ = ("dirty", "key", "value")

    def __init__(self, key: str) -> None:
        self.key = key
        self.value: float = 0
        self.dirty = False


class _Histogram:
    """One labelled histogram series; `counts[i]` is the number of observations in bucket i alone (the
    multiprocess file format: the collector makes them cumulative), the last one +Inf."""

    __slots__ = ("bounds", "count_key", "counts", "dirty", "keys", "sum", "sum_key")

    def __init__(self, name: str, help_text: str, bounds: tuple[float, ...], labels: dict[str, str]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.dirty = False
        names, values = [*labels, "le"], [*labels.values()]
        self.keys = [
            mmap_key(name, f"{name}_bucket", names, [*values, float_to_go_string(b)], help_text)
            for b in (*bounds, float("inf"))
        ]
        self.sum_key = mmap_key(name, f"{name}_sum", list(labels), values, help_text)
        self.count_key = ""
        """The key of a companion `<x>_total` counter that equals this histogram's count ("" for none)."""


class _Family:
    """The series of one metric, created on first use (labels are bounded by the caller)."""

    def __init__(self, name: str, help_text: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = labelnames

    def counter_key(self, values: Iterable[str]) -> str:
        return mmap_key(self.name, f"{self.name}_total", list(self.labelnames), list(values), self.help)


_REQUESTS = _Family("authgate_http_requests", "HTTP requests answered", ("method", "route", "status"))
_LATENCY = _Family(
    "authgate_http_request_duration_seconds",
    "Time from the request reaching authgate's handlers to the response",
    ("method", "route", "status"),
)
_LOGINS = _Family("authgate_logins", "Login attempts by outcome (success, or the error code)", ("outcome",))
_REFRESHES = _Family(
    "authgate_refreshes",
    "Refresh-token presentations by outcome (rotated, reused, expired, session_ended, or the error code)",
    ("outcome",),
)
_EVENTS = _Family("authgate_security_events", "Security events logged, by event", ("event",))
_HASH = _Family("authgate_password_hash_duration_seconds", "Time one password hash took on its thread", ("operation",))
_HASH_CPU = _Family(
    "authgate_password_hash_cpu_seconds",
    "CPU time the password hashes took on their threads (over the duration's count: the CPU of one hash, which"
    " bounds logins per core)",
    ("operation",),
)
_HASH_REJECTED = _Family("authgate_password_hash_rejected", "Hash jobs refused because the queue was full", ())
_GAUGES = {
    "in_flight": ("authgate_http_requests_in_flight", "Requests being handled now"),
    "hash_queue": (
        "authgate_password_hash_queue_depth",
        "Password-hash jobs waiting for a thread (the highest in the last second)",
    ),
    "workers": ("authgate_workers", "Worker processes alive"),
}
_SESSIONS = ("authgate_active_sessions", "Sessions not ended and not expired (the same for every instance)")


def _gauge_key(name: str, help_text: str) -> str:
    return mmap_key(name, name, [], [], help_text)


def _refresh_outcome(status: int, exc: BaseException | None) -> str:
    if exc is None:
        return "rotated" if status == 200 else str(status)
    if isinstance(exc, errors.RefreshTokenReused):
        return "reused"
    if isinstance(exc, errors.RefreshTokenExpired):
        return "expired"
    if isinstance(exc, errors.SessionEnded):
        return "session_ended"
    return exc.code if isinstance(exc, errors.AuthgateError) else "internal_error"


def _login_outcome(status: int, exc: BaseException | None) -> str:
    if exc is None:
        return "success" if status == 200 else str(status)
    return exc.code if isinstance(exc, errors.AuthgateError) else "internal_error"


class Metrics:
    """One worker's metrics. Make it at start (`App.__init__`), `open()` it in the worker, `close()` at exit."""

    def __init__(self, directory: str | None = None, *, flush_interval: float = FLUSH_INTERVAL) -> None:
        self.configured_directory = directory
        self.directory = ""
        self.flush_interval = flush_interval
        self.pid = 0
        self.in_flight = 0
        self.hash_queue_max = 0
        self.session_counter: SessionCounter | None = None
        self._requests: dict[tuple[str, str, int], _Histogram] = {}
        self._outcomes: dict[str, tuple[Callable[[int, BaseException | None], str], _Family]] = {
            "/auth/login": (_login_outcome, _LOGINS),
            "/auth/refresh": (_refresh_outcome, _REFRESHES),
        }
        self._counters: dict[tuple[str, str], _Counter] = {}
        self._hash: dict[str, _Histogram] = {}
        self._dirty_histograms: list[_Histogram] = []
        self._dirty_counters: list[_Counter] = []
        self._files: dict[str, Any] = {}
        self._own_directory = False
        self._timer: asyncio.TimerHandle | None = None
        self._sessions_task: asyncio.Task[None] | None = None
        self._event_handler: _SecurityEventCounter | None = None

    # Life cycle

    def open(self) -> None:
        """Choose the directory and this worker's files; count security events from now on."""
        if self.directory:
            return
        self.pid = os.getpid()
        directory = self.configured_directory
        if not directory:
            directory = tempfile.mkdtemp(prefix="authgate-metrics-")
            self._own_directory = True
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self._event_handler = _SecurityEventCounter(self)
        security = logging.getLogger("authgate.security")
        security.addHandler(self._event_handler)
        if security.level == logging.NOTSET or security.level > logging.INFO:
            security.setLevel(logging.INFO)  # counted even when the log level hides them (the stdout handler filters)

    def start(self) -> None:
        """Flush every `flush_interval` seconds on the running loop (the worker's)."""
        self.open()
        self._timer = asyncio.get_running_loop().call_later(self.flush_interval, self._tick)

    def close(self) -> None:
        """Write the final totals, and stop counting this worker among the live ones."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sessions_task is not None:
            self._sessions_task.cancel()
        if self._event_handler is not None:
            logging.getLogger("authgate.security").removeHandler(self._event_handler)
            self._event_handler = None
        if not self.directory:
            return
        self.in_flight = 0
        self.flush()
        for f in self._files.values():
            f.close()
        self._files.clear()
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self.directory, f"gauge_livesum_{self.pid}.db"))
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = ""

    # The hot path

    def observe(self, req: Request, response: Response, seconds: float, exc: BaseException | None) -> None:
        """Count a finished request (a finisher of `recover`, http/middleware.py)."""
        status = response.status
        route = req.route or "unmatched"
        method = req.method if req.method in KNOWN_METHODS else "other"
        key = (method, route, status)
        series = self._requests.get(key)
        if series is None:
            series = self._request_series(method, route, status)
        series.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series.sum += seconds
        if not series.dirty:
            series.dirty = True
            self._dirty_histograms.append(series)
        outcome = self._outcomes.get(route)
        if outcome is not None:
            decide, family = outcome
            self.count(family, decide(status, exc))

    def _request_series(self, method: str, route: str, status: int) -> _Histogram:
        labels = {"method": method, "route": route, "status": str(status)}
        series = _Histogram(_LATENCY.name, _LATENCY.help, LATENCY_BUCKETS, labels)
        series.count_key = _REQUESTS.counter_key(labels.values())
        self._requests[(method, route, status)] = series
        return series

    def count(self, family: _Family, label: str = "", amount: float = 1) -> None:
        counter = self._counters.get((family.name, label))
        if counter is None:
            counter = _Counter(family.counter_key([label] if family.labelnames else []))
            self._counters[(family.name, label)] = counter
        counter.value += amount
        if not counter.dirty:
            counter.dirty = True
            self._dirty_counters.append(counter)

    # Password hashing (observability/hashing.py)

    def observe_hash(self, operation: str, seconds: float, cpu_seconds: float) -> None:
        self.count(_HASH_CPU, operation, cpu_seconds)
        series = self._hash.get(operation)
        if series is None:
            series = self._hash[operation] = _Histogram(_HASH.name, _HASH.help, HASH_BUCKETS, {"operation": operation})
        series.counts[bisect_left(HASH_BUCKETS, seconds)] += 1
        series.sum += seconds
        if not series.dirty:
            series.dirty = True
            self._dirty_histograms.append(series)

    def hash_queued(self, depth: int) -> None:
        if depth > self.hash_queue_max:
            self.hash_queue_max = depth

    def hash_rejected(self) -> None:
        self.count(_HASH_REJECTED)

    def security_event(self, event: str) -> None:
        self.count(_EVENTS, event)

    # Writing the files

    def _file(self, prefix: str) -> Any:
        f = self._files.get(prefix)
        if f is None:
            f = self._files[prefix] = MmapedDict(os.path.join(self.directory, f"{prefix}_{self.pid}.db"))
        return f

    def flush(self) -> None:
        """Write what changed since the last flush, and the gauges."""
        if not self.directory:
            return
        if self._dirty_histograms:
            histograms = self._file("histogram")
            counters = self._file("counter")
            for h in self._dirty_histograms:
                h.dirty = False
                for key, value in zip(h.keys, h.counts, strict=True):
                    histograms.write_value(key, value, 0.0)
                histograms.write_value(h.sum_key, h.sum, 0.0)
                if h.count_key:
                    counters.write_value(h.count_key, sum(h.counts), 0.0)
            self._dirty_histograms.clear()
        if self._dirty_counters:
            counters = self._file("counter")
            for c in self._dirty_counters:
                c.dirty = False
                counters.write_value(c.key, c.value, 0.0)
            self._dirty_counters.clear()
        gauges = self._file("gauge_livesum")
        for what, value in (("in_flight", self.in_flight), ("hash_queue", self.hash_queue_max), ("workers", 1)):
            gauges.write_value(_gauge_key(*_GAUGES[what]), value, 0.0)
        self.hash_queue_max = 0

    def _tick(self) -> None:
        try:
            self.flush()
            self._maybe_count_sessions()
        except Exception:
            logger.exception("writing the metrics failed")
        if self.directory:
            self._timer = asyncio.get_running_loop().call_later(self.flush_interval, self._tick)

    def _maybe_count_sessions(self) -> None:
        """One worker of the instance (whichever finds the stamp old first) counts the sessions now and then."""
        if self.session_counter is None or (self._sessions_task is not None and not self._sessions_task.done()):
            return
        stamp = os.path.join(self.directory, "active_sessions.stamp")
        try:
            if time.time() - os.stat(stamp).st_mtime < SESSIONS_INTERVAL:
                return
        except FileNotFoundError:
            pass
        with open(stamp, "a"):
            os.utime(stamp)
        self._sessions_task = asyncio.get_running_loop().create_task(self.count_sessions())

    async def count_sessions(self) -> None:
        """Count the active sessions now (the worker does it every SESSIONS_INTERVAL on its own)."""
        if self.session_counter is None:
            return
        try:
            count = await self.session_counter()
        except Exception as exc:
            logger.warning("counting the active sessions failed: %s", f"{type(exc).__name__}: {exc}"[:300])
            return
        if self.directory:
            self._file("gauge_mostrecent").write_value(_gauge_key(*_SESSIONS), count, time.time())


class _SecurityEventCounter(logging.Handler):
    """Counts the `event` of each record of the `authgate.security` logger (writes nothing)."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.INFO)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if isinstance(event, str):
            self.metrics.security_event(event)


# Reading the files


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) still answers kill(pid, 0)
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


def forget_dead_workers(directory: str) -> None:
    """Drop the live gauges of workers that exited without closing (a crash, a kill)."""
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid_text = os.path.basename(path).rsplit("_", 1)[1].removesuffix(".db")
        if pid_text.isdigit() and not _alive(int(pid_text)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


class WorkerFilesCollector:
    """prometheus-client's multiprocess collector, forgetting the live gauges of dead workers first."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        forget_dead_workers(self.directory)
        files = glob.glob(os.path.join(self.directory, "*.db"))
        merged: Iterable[Metric] = MultiProcessCollector.merge(files, accumulate=True)
        return merged


def registry(directory: str) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(WorkerFilesCollector(directory))
    return reg


def render(directory: str) -> bytes:
    """The Prometheus text exposition of every worker's files in `directory`."""
    return generate_latest(registry(directory))
