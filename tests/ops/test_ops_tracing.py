"""OpenTelemetry: off unless the OTEL_* variables ask; then the span tree of a login, ids in the logs, OTLP export."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from authgate.app import App, create_app
from authgate.config import ConfigError
from authgate.observability.tracing import Tracing, check_environment, tracing_wanted
from helpers import PASSWORD, bearer, make_settings, register
from liveserver import live_server
from opslog import app_log_stream


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced_app(database_url: str, exporter: InMemorySpanExporter) -> AsyncIterator[App]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(make_settings(database_url, access_log=True), tracing=Tracing(provider))
    await app.startup()
    yield app
    await app.shutdown()


@pytest.fixture
async def traced_client(traced_app: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=traced_app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as c:
        yield c


def descendants(spans: tuple[ReadableSpan, ...], root: ReadableSpan) -> list[ReadableSpan]:
    children = [s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id]
    return [root, *(d for child in children for d in descendants(spans, child))]


def tree(spans: tuple[ReadableSpan, ...], root: ReadableSpan, depth: int = 0) -> list[tuple[int, str]]:
    """The names under `root`, depth first, in start order."""
    out = [(depth, root.name)]
    children = [s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id]
    for child in sorted(children, key=lambda s: s.start_time or 0):
        out += tree(spans, child, depth + 1)
    return out


async def test_the_span_tree_of_a_login(
    traced_client: httpx.AsyncClient, exporter: InMemorySpanExporter, database_url: str
) -> None:
    await register(traced_client, "alice")
    exporter.clear()
    response = await traced_client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    # (other roots may be background work, such as the outbox sending the registration's mail)
    (root,) = [s for s in spans if s.parent is None and s.name.startswith("POST")]
    assert root.name == "POST /auth/login"
    assert root.kind == SpanKind.SERVER
    attributes = dict(root.attributes or {})
    assert attributes["http.route"] == "/auth/login"
    assert attributes["http.response.status_code"] == 200
    assert attributes["authgate.request_id"] == response.headers["x-request-id"]
    assert len(str(attributes["enduser.id"])) == 36  # the user's id (never the name or the password)
    names = tree(spans, root)
    assert {s.context.trace_id for s in descendants(spans, root)} == {root.context.trace_id}
    flat = [name for _, name in names]
    # the user is read, the password verified on the hash pool, then the session written in one atomic call
    assert (1, "password_hash") in names
    assert flat.index("users.get_for_login") < flat.index("password_hash") < flat.index("sessions.add")
    read = next(i for i, n in enumerate(names) if n == (1, "db.read"))
    assert names[read + 1] == (2, "users.get_for_login")
    write = next(i for i, n in enumerate(names) if n == (1, "db.write") and i > flat.index("password_hash"))
    assert names[write + 1 :] == [(2, "sessions.add")]  # its event with it: no transaction, no audit.add
    db_span = next(s for s in spans if s.name == "users.get_for_login")
    assert db_span.kind == SpanKind.CLIENT
    system = "postgresql" if database_url.startswith("postgres") else "sqlite"
    assert dict(db_span.attributes or {})["db.system.name"] == system


async def test_the_callers_trace_is_continued(traced_client: httpx.AsyncClient, exporter: InMemorySpanExporter) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = await traced_client.get("/ping", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    assert response.status_code == 200
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "GET /ping"]
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None and format(span.parent.span_id, "016x") == parent_id


async def test_log_lines_carry_the_trace_id(
    traced_client: httpx.AsyncClient, traced_app: App, exporter: InMemorySpanExporter, capfd: pytest.CaptureFixture[str]
) -> None:
    await register(traced_client, "bob")
    traced_app.access_log.flush()
    capfd.readouterr()
    exporter.clear()
    logs = app_log_stream()
    wrong = await traced_client.post("/auth/login", json={"username": "bob", "password": "not the password, no"})
    assert wrong.status_code == 401
    traced_app.access_log.flush()
    (root,) = [s for s in exporter.get_finished_spans() if s.name == "POST /auth/login"]
    trace_id = format(root.context.trace_id, "032x")
    access = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    security = [json.loads(line) for line in logs.getvalue().splitlines() if '"login_failure"' in line]
    assert len(access) == 1 and len(security) == 1
    assert access[0]["trace_id"] == trace_id and access[0]["span_id"] == format(root.context.span_id, "016x")
    assert security[0]["trace_id"] == trace_id


async def test_a_failing_request_marks_its_span(
    traced_app: App, traced_client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    async def boom(req: object) -> object:
        raise RuntimeError("a bug")

    traced_app.router.add("GET", "/boom", boom)  # type: ignore[arg-type]
    response = await traced_client.get("/boom")
    assert response.status_code == 500
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "GET /boom"]
    assert span.status.status_code == StatusCode.ERROR


def test_off_unless_the_otel_variables_ask() -> None:
    assert not tracing_wanted({})
    assert Tracing.from_environment({}) is None
    assert tracing_wanted({"OTEL_SERVICE_NAME": "authgate"})
    assert tracing_wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing_wanted({"OTEL_SERVICE_NAME": "authgate", "OTEL_SDK_DISABLED": "true"})
    assert not tracing_wanted({"OTEL_SERVICE_NAME": "authgate", "OTEL_TRACES_EXPORTER": "none"})
    app = create_app(make_settings("sqlite:///unused.db"))
    assert app.tracing is None  # and no tracing middleware: nothing per request


def test_bad_otel_settings_stop_the_start() -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER='zipkin'"):
        check_environment({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL='thrift'"):
        check_environment({"OTEL_SERVICE_NAME": "x", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"})
    check_environment({"OTEL_TRACES_EXPORTER": "console"})
    check_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})  # the exporter is installed


class _Collector(BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            self.received.append(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()
    thread.join()


def test_authgate_serve_exports_spans_over_otlp(tmp_path: Path, collector: tuple[str, list[bytes]]) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    endpoint, received = collector
    env = {
        "AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/authgate.db",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "authgate-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with live_server(env, tmp_path) as server, httpx.Client(base_url=server.url) as c:
        c.post("/auth/register", json={"username": "otel", "email": "otel@example.com", "password": PASSWORD})
        token = c.post("/auth/login", json={"username": "otel", "password": PASSWORD}).json()["access_token"]
        assert c.get("/auth/me", headers=bearer(token)).status_code == 200
        names: set[str] = set()
        services: set[str] = set()
        deadline = time.monotonic() + 10
        while "GET /auth/me" not in names and time.monotonic() < deadline:
            time.sleep(0.1)
            for body in list(received):
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    for attribute in resource_spans.resource.attributes:
                        if attribute.key == "service.name":
                            services.add(attribute.value.string_value)
                    for scope in resource_spans.scope_spans:
                        names |= {span.name for span in scope.spans}
    assert {"POST /auth/register", "POST /auth/login", "GET /auth/me", "password_hash", "db.transaction"} <= names
    assert services == {"authgate-test"}
