"""Prometheus metrics: what GET /metrics says after real requests, and that several workers' numbers add up."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from abuse_helpers import started
from authgate.app import App, build_router, create_app
from authgate.http.responses import Response
from authgate.observability.metrics import Metrics, render
from helpers import PASSWORD, bearer, login, make_settings, register
from liveserver import free_port, live_server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def client_of(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://authgate.test")


async def test_requests_are_counted_by_route_template_never_the_raw_path(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    token = (await login(client, "alice"))["access_token"]
    ids = ["0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"]
    for user_id in ids:
        assert (await client.get(f"/users/{user_id}", headers=bearer(token))).status_code == 403
    assert (await client.get("/no/such/thing/42")).status_code == 404
    assert (await client.request("BREW", "/no/such/pot")).status_code == 404
    text = (await client.get("/metrics")).text
    for raw in [*ids, "/no/such", "BREW"]:
        assert raw not in text  # cardinality: templates, known methods, statuses only
    samples = parse(text)
    assert value(samples, "authgate_http_requests_total", method="GET", route="/users/{user_id}", status="403") == 2
    assert value(samples, "authgate_http_requests_total", method="POST", route="/auth/register", status="201") == 1
    assert value(samples, "authgate_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(samples, "authgate_http_requests_total", method="other", route="unmatched", status="404") == 1
    latency = {
        "route": "/users/{user_id}",
        "method": "GET",
        "status": "403",
    }
    assert value(samples, "authgate_http_request_duration_seconds_count", **latency) == 2
    assert value(samples, "authgate_http_request_duration_seconds_bucket", le="+Inf", **latency) == 2
    assert value(samples, "authgate_http_request_duration_seconds_sum", **latency) > 0
    assert value(samples, "authgate_http_requests_in_flight") == 1  # the scrape itself
    assert value(samples, "authgate_workers") == 1


async def test_login_refresh_and_security_event_outcomes(database_url: str) -> None:
    async with started(database_url, refresh_grace_seconds=0) as app, client_of(app) as client:
        await register(client, "bob")
        first = await login(client, "bob")
        wrong = await client.post("/auth/login", json={"username": "bob", "password": "not the password at all"})
        assert wrong.status_code == 401
        second = (await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
        assert (await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})).status_code == 200
        reused = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert reused.json()["code"] == "refresh_token_reused"
        unknown = await client.post("/auth/refresh", json={"refresh_token": "x" * 43})
        assert unknown.status_code == 401
        samples = await scrape(client)
    assert value(samples, "authgate_logins_total", outcome="success") == 1
    assert value(samples, "authgate_logins_total", outcome="invalid_credentials") == 1
    assert value(samples, "authgate_refreshes_total", outcome="rotated") == 2
    assert value(samples, "authgate_refreshes_total", outcome="reused") == 1
    assert value(samples, "authgate_refreshes_total", outcome="invalid_refresh_token") == 1
    assert value(samples, "authgate_security_events_total", event="login_success") == 1
    assert value(samples, "authgate_security_events_total", event="login_failure") == 1
    assert value(samples, "authgate_security_events_total", event="refresh_reuse") == 1
    assert value(samples, "authgate_password_hash_duration_seconds_count", operation="verify") >= 2
    assert value(samples, "authgate_password_hash_duration_seconds_count", operation="hash") == 1
    # The hashes' CPU: some, and no more than their wall-clock time on the same thread.
    cpu = value(samples, "authgate_password_hash_cpu_seconds_total", operation="verify")
    assert 0 < cpu <= value(samples, "authgate_password_hash_duration_seconds_sum", operation="verify") + 1e-3


async def test_an_expired_refresh_token_is_counted_as_expired(sqlite_url: str) -> None:
    async with started(sqlite_url, refresh_token_ttl=1) as app, client_of(app) as client:
        await register(client, "carol")
        pair = await login(client, "carol")
        await asyncio.sleep(1.2)
        expired = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert expired.json()["code"] == "invalid_refresh_token"  # clients see the same code as any invalid one
        samples = await scrape(client)
    assert value(samples, "authgate_refreshes_total", outcome="expired") == 1


async def test_hash_pool_refusals_and_queue(sqlite_url: str) -> None:
    async with started(sqlite_url, hash_pool_size=1, hash_queue_size=0) as app, client_of(app) as client:
        await register(client, "dave")
        answers = await asyncio.gather(
            *(client.post("/auth/login", json={"username": "dave", "password": PASSWORD}) for _ in range(12))
        )
        statuses = sorted(a.status_code for a in answers)
        assert 200 in statuses and 503 in statuses, statuses
        samples = await scrape(client)
    refused = statuses.count(503)
    assert value(samples, "authgate_password_hash_rejected_total") == refused
    assert value(samples, "authgate_logins_total", outcome="overloaded") == refused
    assert value(samples, "authgate_logins_total", outcome="success") == statuses.count(200)


async def test_active_sessions_are_counted(app: App, client: httpx.AsyncClient) -> None:
    await register(client, "erin")
    one = await login(client, "erin")
    await login(client, "erin")
    await login(client, "erin")
    assert (await client.post("/auth/logout", headers=bearer(one["access_token"]))).status_code == 204
    assert app.metrics is not None
    await app.metrics.count_sessions()
    samples = await scrape(client)
    assert value(samples, "authgate_active_sessions") == 2
    assert value(samples, "authgate_security_events_total", event="logout") == 1


def test_metrics_can_be_moved_off_the_main_port_or_turned_off(sqlite_url: str) -> None:
    routes = lambda s: {r.template for r in build_router(s).routes}  # noqa: E731
    assert "/metrics" in routes(make_settings(sqlite_url))
    assert "/metrics" not in routes(make_settings(sqlite_url, metrics_port=9464))
    assert "/metrics" not in routes(make_settings(sqlite_url, metrics_enabled=False))
    assert create_app(make_settings(sqlite_url, metrics_enabled=False)).metrics is None


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


class _Req:
    def __init__(self, route: str, method: str = "GET") -> None:
        self.route = route
        self.method = method


def test_several_workers_files_add_up_and_dead_workers_keep_their_counts(tmp_path: Path) -> None:
    directory = str(tmp_path)
    workers = [Metrics(directory), Metrics(directory), Metrics(directory)]
    for m in workers:
        m.open()
    workers[1].pid = os.getppid()  # another live process
    workers[2].pid = _dead_pid()  # exited without closing its files (a crash)
    for i, m in enumerate(workers):
        for _ in range(i + 1):
            m.observe(_Req("/ping"), Response(200), 0.0002, None)  # type: ignore[arg-type]
        m.observe(_Req("/auth/login", "POST"), Response(200), 0.02, None)  # type: ignore[arg-type]
        m.in_flight = 5
        m.hash_queued(i)
        m.flush()
    samples = parse(render(directory).decode())
    assert value(samples, "authgate_http_requests_total", method="GET", route="/ping", status="200") == 1 + 2 + 3
    assert value(samples, "authgate_logins_total", outcome="success") == 3
    ping = {"method": "GET", "route": "/ping", "status": "200"}
    assert value(samples, "authgate_http_request_duration_seconds_bucket", le="0.0001", **ping) == 0
    assert value(samples, "authgate_http_request_duration_seconds_bucket", le="0.0005", **ping) == 6
    assert value(samples, "authgate_http_request_duration_seconds_count", **ping) == 6
    assert value(samples, "authgate_http_request_duration_seconds_sum", **ping) == pytest.approx(6 * 0.0002)
    # gauges: only the two live workers (the dead one's files were left behind by its crash)
    assert value(samples, "authgate_http_requests_in_flight") == 10
    assert value(samples, "authgate_workers") == 2
    assert value(samples, "authgate_password_hash_queue_depth") == 0 + 1
    for m in workers:
        m.close()
    after = parse(render(directory).decode())
    assert value(after, "authgate_http_requests_total", method="GET", route="/ping", status="200") == 6
    assert value(after, "authgate_workers") == 0


def test_on_its_own_port_the_main_process_sums_both_workers(tmp_path: Path) -> None:
    metrics_port = free_port()
    env = {
        "AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/authgate.db",
        "AUTHGATE_METRICS_PORT": str(metrics_port),
        "AUTHGATE_ACCESS_LOG": "true",
    }
    with live_server(env, tmp_path, workers=2) as server:
        assert httpx.get(server.url + "/metrics").status_code == 404  # not on the public port
        sent = 0
        for _ in range(20):  # fresh connections, so that both workers take some
            with httpx.Client(base_url=server.url) as c:
                for _ in range(10):
                    assert c.get("/ping").status_code == 200
                    sent += 1
        time.sleep(1.5)  # each worker writes its numbers at least once a second
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        time.sleep(0.2)
        log = server.output()
    samples = parse(text)
    assert value(samples, "authgate_http_requests_total", method="GET", route="/ping", status="200") == sent
    assert value(samples, "authgate_workers") == 2
    # both workers answered /ping (request ids start with a per-process prefix), so the total is a sum
    prefixes = set(re.findall(r'"request_id":"([0-9a-f]+)-[0-9a-f]+","method":"GET","route":"/ping"', log))
    assert len(prefixes) == 2, prefixes
