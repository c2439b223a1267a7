"""A Granian worker process: its threads' scheduling policy (see `schedule_threads`), its garbage collector's
thresholds (`collect_less_often`), and the stop signals held back from its fork until Granian listens for them.

Granian's worker is forked with the parent's signal handlers, installs its own before the app's start-up
(`__rsgi_init__`), but listens to them only once it serves. A SIGTERM anywhere in between was taken and lost,
and the worker was killed at the kill timeout (AUTHGATE_SHUTDOWN_TIMEOUT, 30 s) instead of stopping at once: a
stop right after a start (a deploy rolled back, a restart loop) hit it every time. So the stop signals are
blocked around each fork (the worker keeps the block) and unblocked in the worker once Granian serves: a signal
that came in between is delivered then, and the worker stops as it should.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys

from authgate.app import App, create_app

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def hold_stop_signals_across_forks() -> None:
    """In the `authgate serve` process, before Granian forks its workers."""
    os.register_at_fork(
        before=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS),
        after_in_parent=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS),
    )


def schedule_threads(policy: str) -> None:
    """In the worker, as it starts (`__rsgi_init__`): its threads at `policy`, and so every thread they make later.

    `batch` (SCHED_BATCH) because a worker is two kinds of threads on the same cores: Granian's I/O threads
    (Rust) and the event loop. At the normal policy each network event wakes an I/O thread that preempts the
    loop mid-request; measured on one core under `GET /users?limit=50`, 3.3 context switches a request and a
    quarter of the CPU in the kernel. With SCHED_BATCH a waking thread waits for the running one to block or
    use its slice, and they take turns: 3,903 -> 4,987 listings/s, 60,660 -> 64,917 /ping/s, p99 lower.

    Not in the supervisor, and not while the worker exits (`unschedule_threads`). Granian's stop and its
    watcher thread both wait for each exiting worker; the loser of that race gets ECHILD, reads the worker as
    still alive unless the winner records its exit within 1 ms, and logs that it kills it. With the supervisor
    at batch that happened in 3 stops of 40 right after a start, under load (0 of 60 since; it still can, 3 in
    130 on a slow host with both cores busy: tests/e2e/test_live_server.py). The hashing threads (SCHED_IDLE)
    are left as they are."""
    if policy == "batch" and sys.platform == "linux":
        _move_threads(os.SCHED_OTHER, os.SCHED_BATCH)


def unschedule_threads(policy: str) -> None:
    """As the worker stops: its threads back at the normal policy, so that it exits as promptly as it did."""
    if policy == "batch" and sys.platform == "linux":
        _move_threads(os.SCHED_BATCH, os.SCHED_OTHER)


def _move_threads(old: int, new: int) -> None:
    for name in os.listdir("/proc/self/task"):
        tid = int(name)
        try:
            if os.sched_getscheduler(tid) == old:
                os.sched_setscheduler(tid, new, os.sched_param(0))
        except ProcessLookupError:  # a thread that ended meanwhile
            continue
        except OSError as exc:  # a sandbox that forbids it: serve at the normal policy
            print(f"authgate: could not change the scheduling policy ({exc}); left as it is", file=sys.stderr)
            return


YOUNG_GENERATION_THRESHOLD = 100_000
"""Net allocations of container objects between two passes of the cyclic collector over the young generation
(Python's default: 700). More than the requests in flight at 3,000 connections hold: at 20,000 a pass still came
round while they were all alive (199 passes in 8 s, 0.6 s of them)."""


def collect_less_often() -> None:
    """In the worker, once it has started. A request allocates a few dozen container objects (its request, the
    coroutines of its middleware, a task, a future, a timer while it waits) and frees them by reference count:
    none is cyclic garbage (the collector found none under /ping, /auth/me, 10 ms of I/O or problem responses).
    Yet at Python's default threshold it ran 700 to 850 young passes a second under 3,000 connections of the
    10 ms I/O endpoint, each walking every request in flight, whose objects it then promoted into the older
    generations and walked again: 1.2 to 1.4 s of its passes in 8 s, measured with `gc.callbacks`. At 100,000
    it ran none in those 8 s, and callgrind counted 5% fewer instructions a request (109,851 -> 103,995 at
    1,000 connections). Cyclic garbage, which a bug could still make, is still collected, in larger batches."""
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


def create_worker_app() -> App:
    """The app of one worker (Granian's factory). The block again, in case Granian ever spawns instead of forks.
    `authgate serve` has applied the migrations before forking (cli.py, `_prepare`)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    return create_app(migrated=True)


def release_stop_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Deliver the held stop signals once `loop` runs again, which it does only after Granian serves."""
    loop.call_soon(signal.pthread_sigmask, signal.SIG_UNBLOCK, STOP_SIGNALS)
