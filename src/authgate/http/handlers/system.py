"""The seed's /ping, health checks, and the benchmark's I/O endpoint."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from authgate.errors import AuthgateError
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import JSON, Response, json_response, static_json
from authgate.http.schemas import HealthResponse, Message

if TYPE_CHECKING:
    from authgate.services import Services

_PONG = static_json(Message("pong"))
_IO = static_json({"status": "success"})
_LIVE = static_json(HealthResponse("ok"))

READY_DATABASE_TIMEOUT = 2.0
"""Seconds the readiness check waits for the database: a hung database is "unavailable" in time for a probe,
not after the 10 s command timeout."""


@operation("Ping", tag="system", response=Message, uses_database=False)
async def ping(req: Request) -> Response:
    return Response(200, _PONG, [("content-type", JSON)])


@operation("Liveness", tag="system", response=HealthResponse, uses_database=False)
async def live(req: Request) -> Response:
    return Response(200, _LIVE, [("content-type", JSON), ("cache-control", "no-store")])


@operation(
    "Readiness",
    description="503 with the failing checks when the database, the migrations or the signing key are not ready. "
    f"It waits at most {READY_DATABASE_TIMEOUT:g} s for the database.",
    tag="system",
    response=HealthResponse,
    other_responses={503: HealthResponse},
    uses_database=False,
)
async def ready(req: Request) -> Response:
    services = req.services
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_DATABASE_TIMEOUT):
            await services.db.ping()
            pending = await services.db.pending_migrations()
        checks["database"] = "ok"
        checks["migrations"] = "ok" if not pending else f"pending: {', '.join(pending)}"
    except AuthgateError as exc:
        checks["database"] = f"unavailable: {exc.detail}"
    except TimeoutError:
        checks["database"] = f"unavailable: no answer within {READY_DATABASE_TIMEOUT:g} s"
    checks["signing_key"] = "ok" if services.tokens.keyring.kid else "missing"
    healthy = all(v == "ok" for v in checks.values())
    # Informative only: without Redis the limits are per process, and the service keeps serving (still 200).
    checks["rate_limits"] = await services.rate_limiting.check()
    checks["session_cache"] = _session_cache_status(services)
    return json_response(HealthResponse("ok" if healthy else "unavailable", checks), 200 if healthy else 503)


def _session_cache_status(services: Services) -> str:
    cache = services.auth.session_cache
    if cache is None:
        return "off"
    return "ok" if cache.live else "degraded: every request asks the database (the change feed is down)"


@operation("Benchmark I/O (10 ms sleep)", tag="system", response=dict[str, str], uses_database=False)
async def bench_io(req: Request) -> Response:
    await asyncio.sleep(0.010)
    return Response(200, _IO, [("content-type", JSON)])
