"""`recover` (http/middleware.py): an error becomes a problem response and leaves no reference cycle behind.

A cycle is freed only by the cyclic collector, whose passes get longer the more of it there is: before the fix,
every problem response left a dozen objects for it (the error, its traceback, the middleware's frame), and a
flood of 404s spent a sixth of the worker's time in the collector."""

from __future__ import annotations

import gc
import io
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from authgate.errors import RouteNotFound
from authgate.http.middleware import recover
from authgate.http.request import Request
from authgate.http.responses import Response
from helpers import run_to_end

_raised: list[weakref.ref[BaseException]] = []


class _NotFound(RouteNotFound):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        _raised.append(weakref.ref(self))


class _Bug(RuntimeError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        _raised.append(weakref.ref(self))


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextmanager
def _logged() -> Iterator[io.StringIO]:
    """The unhandled error's log line, formatted by a handler of the test's own and by no other: pytest's log
    capture, which it attaches as each test runs, keeps every record, and the error with it, for its report."""
    logger = logging.getLogger("authgate.http")
    out = io.StringIO()
    handlers, propagate = logger.handlers, logger.propagate
    logger.handlers, logger.propagate = [logging.StreamHandler(out)], False
    try:
        yield out
    finally:
        logger.handlers, logger.propagate = handlers, propagate


@pytest.mark.parametrize(("error", "status"), [(_NotFound, 404), (_Bug, 500)])
def test_the_error_is_freed_with_the_response_without_the_collector(
    collector_off: None, error: type[Exception], status: int
) -> None:
    async def handler(req: Request) -> Response:
        raise error("No resource at /nope")

    seen: list[tuple[int, str]] = []
    handle = recover(
        lambda: "req-1", [lambda req, response, seconds, exc: seen.append((response.status, type(exc).__name__))]
    )(handler)
    request = Request("GET", "/nope", "", {}, None, None, _client_ip="127.0.0.1")  # type: ignore[arg-type]
    _raised.clear()

    with _logged() as log:
        response = run_to_end(handle(request))

    assert response.status == status
    assert seen == [(status, error.__name__)]  # the finishers still see the error
    assert len(_raised) == 1
    assert ("_Bug: No resource at /nope" in log.getvalue()) is (status == 500)  # logged with its traceback
    assert _raised[0]() is None, "the error outlived its request: a reference cycle holds it"
