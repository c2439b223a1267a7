"""The main process of `authgate serve`: the metrics directory the workers share, and the metrics port.

Before the workers start, the directory is made (or emptied: numbers from an earlier run must not be summed in)
and handed to them through `AUTHGATE_METRICS_DIR`. With `AUTHGATE_METRICS_PORT`, the main process itself serves
`GET /metrics` there (prometheus-client's small threaded server over the same files), so that the main port can
be public while the metrics are not; the workers then do not route `/metrics` at all.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
from typing import Any

from authgate.config import Settings

logger = logging.getLogger("authgate.metrics")


def prepare_metrics(settings: Settings, server: Any) -> None:
    """Call in `authgate serve` before `server.serve()`; `server` is the Granian server (for its hooks)."""
    if not settings.metrics_enabled:
        return
    if settings.metrics_dir:
        directory, created = settings.metrics_dir, False
        os.makedirs(directory, exist_ok=True)
        for stale in glob.glob(os.path.join(directory, "*.db")) + glob.glob(os.path.join(directory, "*.stamp")):
            os.remove(stale)
    else:
        directory, created = tempfile.mkdtemp(prefix="authgate-metrics-"), True
    os.environ["AUTHGATE_METRICS_DIR"] = directory  # the workers' settings read it
    http: list[Any] = []

    if settings.metrics_port:

        def start() -> None:
            from prometheus_client import start_http_server

            from authgate.observability.metrics import registry

            http.append(start_http_server(settings.metrics_port, settings.metrics_host, registry(directory)))

        server.on_startup(start)

    def stop() -> None:
        for httpd, thread in http:
            httpd.shutdown()
            thread.join(timeout=5)
        if created:
            shutil.rmtree(directory, ignore_errors=True)

    server.on_shutdown(stop)
