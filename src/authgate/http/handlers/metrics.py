"""GET /metrics: the Prometheus text exposition, summed over every worker of this instance.

Routed on the main port only while `AUTHGATE_METRICS_PORT` is 0; otherwise the main process serves it there.
"""

from __future__ import annotations

from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import Response
from authgate.observability.metrics import CONTENT_TYPE_LATEST, render


@operation(
    "Prometheus metrics",
    description="The text exposition format, summed over every worker process of this instance. "
    "Keep it off the public internet (deploy/nginx.conf refuses it), or serve it on AUTHGATE_METRICS_PORT.",
    tag="system",
    response=str,
    media_type="text/plain",
    uses_database=False,
)
async def metrics(req: Request) -> Response:
    instruments = req.services.instruments
    if instruments is None or instruments.metrics is None or not instruments.metrics.directory:
        return Response(404, b"metrics are off\n", [("content-type", "text/plain")])
    own = instruments.metrics
    own.flush()  # this worker's numbers as of now; the others' as of their last flush (at most a second ago)
    return Response(200, render(own.directory), [("content-type", CONTENT_TYPE_LATEST), ("cache-control", "no-store")])
