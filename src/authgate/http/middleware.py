"""Middleware: plain functions from a handler to a handler, composed once at start (see `app.py`).

Each is stateless; what a request carries lives on the request object.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence

from authgate.errors import AuthgateError
from authgate.http.problems import internal_error, problem_response, status_of
from authgate.http.request import Request
from authgate.http.responses import Page, Response
from authgate.http.router import Handler
from authgate.observability.logging import AccessLog
from authgate.observability.metrics import Metrics

Middleware = Callable[[Handler], Handler]

logger = logging.getLogger("authgate.http")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def compose(handler: Handler, middleware: Sequence[Middleware]) -> Handler:
    """`compose(h, [a, b])` runs a, then b, then h."""
    for wrap in reversed(middleware):
        handler = wrap(handler)
    return handler


def request_ids() -> Callable[[], str]:
    """Unique ids, cheap to make: a random prefix per process and a counter."""
    prefix = secrets.token_hex(6)
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter):x}"


def recover(next_id: Callable[[], str]) -> Middleware:
    """Give every request an id, and turn every error into a problem response (the seed's recovery middleware)."""

    def middleware(handler: Handler) -> Handler:
        async def recover_middleware(req: Request) -> Response:
            incoming = req.headers.get("x-request-id")
            req.request_id = incoming if incoming and _SANE_REQUEST_ID.match(incoming) else next_id()
            try:
                response = await handler(req)
            except AuthgateError as exc:
                response = problem_response(exc, req.request_id)
            except Exception:
                logger.exception(
                    "unhandled error",
                    extra={"request_id": req.request_id, "route": req.route or req.path[:200]},
                )
                response = internal_error(req.request_id)
            response.headers.append(("x-request-id", req.request_id))
            return response

        return recover_middleware

    return middleware


def access_log(log: AccessLog) -> Middleware:
    """One JSON line per request: what, who, how it ended and how long it took."""

    def middleware(handler: Handler) -> Handler:
        async def access_log_middleware(req: Request) -> Response:
            start = time.perf_counter()
            response = await handler(req)
            log.write(req, response.status, time.perf_counter() - start)
            return response

        return access_log_middleware

    return middleware


def request_metrics(metrics: Metrics) -> Middleware:
    """Count each request by method, route template and status, and time it (plain numbers: see metrics.py).

    Inside `recover`, so that it sees the error behind a problem response (the login and refresh outcomes)."""

    def middleware(handler: Handler) -> Handler:
        async def metrics_middleware(req: Request) -> Response:
            metrics.in_flight += 1
            start = time.perf_counter()
            try:
                response = await handler(req)
            except AuthgateError as exc:
                metrics.observe(req, status_of(exc), time.perf_counter() - start, exc)
                raise
            except Exception as exc:
                metrics.observe(req, 500, time.perf_counter() - start, exc)
                raise
            finally:
                metrics.in_flight -= 1
            metrics.observe(req, response.status, time.perf_counter() - start, None)
            return response

        return metrics_middleware

    return middleware


def security_headers(headers: Sequence[tuple[str, str]], pages: Sequence[tuple[str, str]] = ()) -> Middleware:
    """`headers` on every response, but `pages` instead on the HTML pages (`Page`)."""

    def middleware(handler: Handler) -> Handler:
        async def security_headers_middleware(req: Request) -> Response:
            response = await handler(req)
            response.headers.extend(pages if response.__class__ is Page else headers)
            return response

        return security_headers_middleware

    return middleware
