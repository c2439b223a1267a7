"""A Granian worker process: the stop signals are held back from its fork until Granian listens for them.

Granian's worker is forked with the parent's signal handlers, installs its own before the app's start-up
(`__rsgi_init__`), but listens to them only once it serves. A SIGTERM anywhere in between was taken and lost,
and the worker was killed at the kill timeout (AUTHGATE_SHUTDOWN_TIMEOUT, 30 s) instead of stopping at once: a
stop right after a start (a deploy rolled back, a restart loop) hit it every time. So the stop signals are
blocked around each fork (the worker keeps the block) and unblocked in the worker once Granian serves: a signal
that came in between is delivered then, and the worker stops as it should.
"""

from __future__ import annotations

import asyncio
import os
import signal

from authgate.app import App, create_app

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def hold_stop_signals_across_forks() -> None:
    """In the `authgate serve` process, before Granian forks its workers."""
    os.register_at_fork(
        before=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS),
        after_in_parent=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS),
    )


def create_worker_app() -> App:
    """The app of one worker (Granian's factory). The block again, in case Granian ever spawns instead of forks."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    return create_app()


def release_stop_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Deliver the held stop signals once `loop` runs again, which it does only after Granian serves."""
    loop.call_soon(signal.pthread_sigmask, signal.SIG_UNBLOCK, STOP_SIGNALS)
