"""OpenTelemetry tracing, off unless the standard `OTEL_*` variables ask for it.

On when any of `OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
`OTEL_SERVICE_NAME` is set (and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` says no).
Then each request is one server span named after its route template (`POST /auth/login`), continuing the caller's
trace when it sends a W3C `traceparent`; database calls (one span per transaction or read, and one per store
call inside it) and password hashes are its children; and every log line carries `trace_id` and `span_id`.

When off, nothing of this is composed into the request path and OpenTelemetry is not even imported.
Exporters: `otlp` (the default; `OTEL_EXPORTER_OTLP_PROTOCOL` `http/protobuf` by default, or `grpc`, each
needing its exporter package), `console`; the sampler comes from `OTEL_TRACES_SAMPLER(_ARG)` as usual.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from authgate.config import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import Tracer

    from authgate.http.request import Request
    from authgate.http.responses import Response
    from authgate.http.router import Handler
    from authgate.storage.base import Database, Stores

_SWITCHES = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
)
_EXPORTER_PACKAGES = {
    "http/protobuf": (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry-exporter-otlp-proto-http",
    ),
    "grpc": ("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "opentelemetry-exporter-otlp-proto-grpc"),
}


def tracing_wanted(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if _exporter_names(environ) == ["none"]:
        return False
    return any(environ.get(name) for name in _SWITCHES)


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    raw = environ.get("OTEL_TRACES_EXPORTER", "") or "otlp"
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def _otlp_protocol(environ: Mapping[str, str]) -> str:
    return (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def check_environment(environ: Mapping[str, str]) -> None:
    """Raise ConfigError, before any worker starts, when the OTEL_* variables ask for what cannot be had."""
    if not tracing_wanted(environ):
        return
    for name in _exporter_names(environ):
        if name in ("console", "none"):
            continue
        if name != "otlp":
            raise ConfigError(f"OTEL_TRACES_EXPORTER={name!r}: authgate knows otlp, console and none")
        protocol = _otlp_protocol(environ)
        if protocol not in _EXPORTER_PACKAGES:
            raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: expected http/protobuf or grpc")
        module, package = _EXPORTER_PACKAGES[protocol]
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(
                f"OTEL_TRACES_EXPORTER=otlp ({protocol}) needs the {package} package: pip install 'authgate[otlp]'"
            ) from None


class Tracing:
    """A tracer provider and the tracer authgate's spans come from. One per worker, shut down at exit."""

    def __init__(self, provider: TracerProvider) -> None:
        from authgate import __version__

        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("authgate", __version__)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Tracing | None:
        env = os.environ if environ is None else environ
        if not tracing_wanted(env):
            return None
        check_environment(env)
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: "authgate"}))
        provider = TracerProvider(resource=resource)  # the sampler: OTEL_TRACES_SAMPLER, parent-based by default
        for processor in _processors(env, BatchSpanProcessor):
            provider.add_span_processor(processor)
        return cls(provider)

    def shutdown(self) -> None:
        """Export what is buffered, then stop."""
        self.provider.shutdown()

    def log_filter(self) -> logging.Filter:
        return _TraceIds()


def _processors(environ: Mapping[str, str], batch: Callable[[Any], SpanProcessor]) -> list[SpanProcessor]:
    import importlib

    out: list[SpanProcessor] = []
    for name in _exporter_names(environ):
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            out.append(batch(ConsoleSpanExporter()))
        elif name == "otlp":
            module = importlib.import_module(_EXPORTER_PACKAGES[_otlp_protocol(environ)][0])
            out.append(batch(module.OTLPSpanExporter()))  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
    return out


def current_ids() -> tuple[str, str] | None:
    """The trace id and span id of the current span (hex), or None outside a recorded span."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class _TraceIds(logging.Filter):
    """Adds `trace_id` and `span_id` to every log record made inside a span."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current_ids()
        if ids is not None:
            record.trace_id, record.span_id = ids
        return True


# The request span


class _HeaderGetter:
    """Reads `traceparent` / `tracestate` from our request headers (lower-case names)."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        value = carrier.get(key.lower())
        return None if value is None else [value]

    def keys(self, carrier: Any) -> list[str]:
        return []


def request_spans(tracing: Tracing) -> Callable[[Handler], Handler]:
    """The middleware: one server span per request, outermost so that the access log line gets its ids."""
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind, StatusCode

    tracer = tracing.tracer
    getter = _HeaderGetter()

    def middleware(handler: Handler) -> Handler:
        async def tracing_middleware(req: Request) -> Response:
            parent = extract(req.headers, getter=getter)  # type: ignore[arg-type]
            with tracer.start_as_current_span(
                req.method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": req.method, "client.address": req.client_ip},
            ) as span:
                response = await handler(req)
                route = req.route or "unmatched"
                span.update_name(f"{req.method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", response.status)
                span.set_attribute("authgate.request_id", req.request_id)
                if req.user_id:
                    span.set_attribute("enduser.id", req.user_id)
                if response.status >= 500:
                    span.set_status(StatusCode.ERROR)
                return response

        return tracing_middleware

    return middleware


# Database spans: a wrapper at the seam, not code in every store


class TracedDatabase:
    """The same `Database`, with a span around each transaction / read and each store call inside it."""

    def __init__(self, inner: Database, tracer: Tracer) -> None:
        self.inner = inner
        self.tracer = tracer
        self.dialect = inner.dialect
        self._attributes = {"db.system.name": "postgresql" if inner.dialect == "postgres" else "sqlite"}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    def transaction(self) -> AbstractAsyncContextManager[Stores]:
        return self._scope("db.transaction", self.inner.transaction)

    def reader(self) -> AbstractAsyncContextManager[Stores]:
        return self._scope("db.read", self.inner.reader)

    def writer(self) -> AbstractAsyncContextManager[Stores]:
        return self._scope("db.write", self.inner.writer)

    def replica(self) -> AbstractAsyncContextManager[Stores]:
        return self._scope("db.read_replica", self.inner.replica)

    @asynccontextmanager
    async def _scope(
        self, name: str, open_scope: Callable[[], AbstractAsyncContextManager[Stores]]
    ) -> AsyncIterator[Stores]:
        with self.tracer.start_as_current_span(name, attributes=self._attributes):
            async with open_scope() as stores:
                yield cast("Stores", _TracedStores(stores, self.tracer, self._attributes))

    async def ping(self) -> None:
        with self.tracer.start_as_current_span("db.ping", attributes=self._attributes):
            await self.inner.ping()

    async def migrate(self) -> list[str]:
        with self.tracer.start_as_current_span("db.migrate", attributes=self._attributes):
            return await self.inner.migrate()

    async def pending_migrations(self) -> list[str]:
        with self.tracer.start_as_current_span("db.pending_migrations", attributes=self._attributes):
            return await self.inner.pending_migrations()


class _TracedStores:
    __slots__ = ("_attributes", "_inner", "_tracer")

    def __init__(self, inner: Stores, tracer: Tracer, attributes: dict[str, str]) -> None:
        self._inner = inner
        self._tracer = tracer
        self._attributes = attributes

    def __getattr__(self, name: str) -> Any:
        return _TracedStore(getattr(self._inner, name), name, self._tracer, self._attributes)


class _TracedStore:
    __slots__ = ("_attributes", "_inner", "_name", "_tracer")

    def __init__(self, inner: object, name: str, tracer: Tracer, attributes: dict[str, str]) -> None:
        self._inner = inner
        self._name = name
        self._tracer = tracer
        self._attributes = attributes

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        from opentelemetry.trace import SpanKind

        span_name = f"{self._name}.{name}"
        attributes = {**self._attributes, "db.operation.name": span_name}
        tracer = self._tracer

        async def traced(*args: Any, **kwargs: Any) -> Any:
            with tracer.start_as_current_span(span_name, kind=SpanKind.CLIENT, attributes=attributes):
                return await attr(*args, **kwargs)

        return traced
