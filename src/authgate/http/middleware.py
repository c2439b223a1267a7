"""Middleware: plain functions from a handler to a handler, composed once at start (see `app.py`); and the
finishers that `recover` hands every response to (security headers, CORS headers, metrics, the access log),
which need no frame of their own.

Each is stateless; what a request carries lives on the request object.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from random import random
from typing import Protocol

from authgate.errors import AuthgateError
from authgate.http.problems import internal_error, problem_response
from authgate.http.request import Request
from authgate.http.responses import Page, Response
from authgate.http.router import Handler
from authgate.observability.logging import AccessLog

Middleware = Callable[[Handler], Handler]

logger = logging.getLogger("authgate.http")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def compose(handler: Handler, middleware: Sequence[Middleware]) -> Handler:
    """`compose(h, [a, b])` runs a, then b, then h."""
    for wrap in reversed(middleware):
        handler = wrap(handler)
    return handler


def request_ids() -> Callable[[], str]:
    """Unique ids, cheap to make: a random prefix per process and a counter (built in C, no Python frame)."""
    return map(f"{secrets.token_hex(6)}-".__add__, map(str, itertools.count(1))).__next__


Finisher = Callable[[Request, Response, float, "BaseException | None"], None]
"""Sees each finished response: the request, the response (it may add headers), the seconds the request took and
the error behind a problem response. It runs in `recover`'s frame: it may not await, and it adds no frame of its
own to the request's path (security headers, CORS headers, metrics, the access log)."""


class InFlight(Protocol):
    in_flight: int


def recover(
    next_id: Callable[[], str], finishers: Sequence[Finisher] = (), gauge: InFlight | None = None
) -> Middleware:
    """Give every request an id and turn every error into a problem response (the seed's recovery middleware);
    then hand the response to each finisher in order. `gauge.in_flight` counts the requests being handled."""
    finish = tuple(finishers)

    def middleware(handler: Handler) -> Handler:
        async def recover_middleware(req: Request) -> Response:
            incoming = req.headers.get("x-request-id")
            req.request_id = incoming if incoming and _SANE_REQUEST_ID.match(incoming) else next_id()
            error: BaseException | None = None
            if gauge is not None:
                gauge.in_flight += 1
            start = time.perf_counter()
            try:
                response = await handler(req)
            except AuthgateError as exc:
                error = exc
                response = problem_response(exc, req.request_id)
            except Exception as exc:
                error = exc
                logger.exception(
                    "unhandled error",
                    extra={"request_id": req.request_id, "route": req.route or req.path[:200]},
                )
                response = internal_error(req.request_id)
            finally:
                if gauge is not None:
                    gauge.in_flight -= 1
            response.headers.append(("x-request-id", req.request_id))
            if finish:
                seconds = time.perf_counter() - start
                for f in finish:
                    f(req, response, seconds, error)
            # The error's traceback holds this frame, which would hold the error: a reference cycle that only the
            # collector frees, a dozen objects for every problem response (tests/unit/test_recover.py).
            error = None
            return response

        return recover_middleware

    return middleware


def access_log(log: AccessLog, sample: float = 1.0) -> Finisher:
    """One JSON line per request: what, who, how it ended and how long it took. With `sample` below 1, only that
    share of the requests answered below 400, at random, and every other one. A finisher, the last one: the line
    tells what the client got."""
    if sample >= 1:
        return log.write

    def write_sampled(req: Request, response: Response, seconds: float, error: BaseException | None) -> None:
        if response.status >= 400 or random() < sample:  # noqa: S311  (sampling, not a secret)
            log.write(req, response, seconds, error)

    return write_sampled


def security_headers(headers: Sequence[tuple[str, str]], pages: Sequence[tuple[str, str]] = ()) -> Finisher:
    """`headers` on every response, but `pages` instead on the HTML pages (`Page`)."""

    def add_security_headers(req: Request, response: Response, seconds: float, error: BaseException | None) -> None:
        response.headers.extend(pages if response.__class__ is Page else headers)

    return add_security_headers
