"""Logs: one JSON line per request, security events on their own lines, one line per crash, no secrets ever."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from abuse_helpers import make_admin, started
from authgate.app import App
from helpers import PASSWORD, bearer, login, register
from liveserver import live_server
from opslog import app_log_stream, json_lines
from pages_helpers import csrf_token


def client_from(app: App, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://authgate.test")


async def test_one_access_line_per_request(capfd: pytest.CaptureFixture[str], database_url: str) -> None:
    async with started(database_url, access_log=True) as app, client_from(app) as client:
        await register(client, "alice")
        token = (await login(client, "alice"))["access_token"]
        app.access_log.flush()
        capfd.readouterr()
        me = await client.get("/auth/me", headers=bearer(token))
        unauthenticated = await client.get(f"/users/{me.json()['id']}")
        assert unauthenticated.status_code == 401
        app.access_log.flush()
        lines = [line for line in json_lines(capfd.readouterr().out) if line.get("event") == "request"]
    assert len(lines) == 2
    first, second = lines
    assert set(first) == {
        "timestamp",
        "level",
        "event",
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
        "client_ip",
        "user_id",
    }
    assert first["timestamp"].endswith("Z") and first["level"] == "info"
    assert (first["method"], first["route"], first["status"]) == ("GET", "/auth/me", 200)
    assert first["request_id"] == me.headers["x-request-id"]
    assert first["client_ip"] == "203.0.113.7"
    assert first["user_id"] == me.json()["id"]
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] > 0
    assert second["route"] == "/users/{user_id}"  # the template, not the raw path
    assert second["status"] == 401 and "user_id" not in second


async def test_a_sampled_access_log_keeps_every_failure(capfd: pytest.CaptureFixture[str], database_url: str) -> None:
    """AUTHGATE_ACCESS_LOG_SAMPLE: that share of the requests answered below 400, at random, and all the others."""

    async def lines_for(sample: float) -> tuple[int, int]:
        async with started(database_url, access_log=True, access_log_sample=sample) as app, client_from(app) as c:
            app.access_log.flush()
            capfd.readouterr()
            for _ in range(400):
                assert (await c.get("/ping")).status_code == 200
            for _ in range(20):
                assert (await c.get("/auth/me")).status_code == 401
            app.access_log.flush()
            lines = [line for line in json_lines(capfd.readouterr().out) if line.get("event") == "request"]
        return sum(line["status"] == 200 for line in lines), sum(line["status"] == 401 for line in lines)

    assert await lines_for(1.0) == (400, 20)
    rare, failures = await lines_for(0.001)
    assert rare <= 8 and failures == 20  # more than 8 of 400 at 0.1%: about one run in two billion
    half, failures = await lines_for(0.5)
    assert 100 <= half <= 300 and failures == 20  # outside: about one run in 10^24


async def test_security_events_have_their_own_lines(database_url: str) -> None:
    async with started(database_url, refresh_grace_seconds=0) as app, client_from(app) as client:
        logs = app_log_stream()
        admin = await make_admin(app)
        user = await register(client, "bob")
        pair = await login(client, "bob")
        await client.post("/auth/login", json={"username": "bob", "password": "not the password at all"})
        newer = (await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})).json()
        await client.post("/auth/refresh", json={"refresh_token": newer["refresh_token"]})
        await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})  # reuse: session ended
        pair = await login(client, "bob")
        changed = await client.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": "an-entirely-new-passphrase"},
            headers=bearer(pair["access_token"]),
        )
        assert changed.status_code == 204
        assert (await client.post("/auth/logout", headers=bearer(pair["access_token"]))).status_code == 204
        assert (await client.patch(f"/users/{user['id']}", json={"disabled": True}, headers=admin)).status_code == 200
    events = {line["event"]: line for line in json_lines(logs.getvalue()) if line.get("logger") == "authgate.security"}
    expected = {"login_success", "login_failure", "refresh_reuse", "password_change", "logout", "admin_user_update"}
    assert expected <= set(events)
    for name in expected:
        line = events[name]
        assert line["timestamp"].endswith("Z") and line["level"] in ("info", "warning")
        assert len(line["request_id"]) > 0
    assert events["login_failure"]["client_ip"] == "203.0.113.7"
    assert events["admin_user_update"]["target_id"] == user["id"]


async def test_an_unhandled_error_is_logged_once_and_answers_500_with_its_request_id(sqlite_url: str) -> None:
    async with started(sqlite_url) as app, client_from(app) as client:

        async def broken(req: object) -> object:
            raise ZeroDivisionError("the bug")

        app.router.add("GET", "/broken", broken)  # type: ignore[arg-type]
        logs = app_log_stream()
        response = await client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "internal_error" and "the bug" not in response.text
    assert body["request_id"] == response.headers["x-request-id"]
    crashes = [line for line in json_lines(logs.getvalue()) if "exception" in line]
    assert len(crashes) == 1
    (crash,) = crashes
    assert crash["request_id"] == body["request_id"] and crash["level"] == "error"
    assert "Traceback" in crash["exception"] and "ZeroDivisionError: the bug" in crash["exception"]


async def test_console_format_is_for_people(capfd: pytest.CaptureFixture[str], sqlite_url: str) -> None:
    async with started(sqlite_url, access_log=True, log_format="console") as app, client_from(app) as client:
        logs = app_log_stream()
        await register(client, "carol")
        await client.post("/auth/login", json={"username": "carol", "password": "wrong-wrong-wrong"})
        app.access_log.flush()
        access = capfd.readouterr().out
    assert "POST /auth/login 401" in access and "ip=203.0.113.7" in access
    assert not access.lstrip().startswith("{")
    security = [line for line in logs.getvalue().splitlines() if "authgate.security" in line]
    assert any("login failed" in line and "event=login_failure" in line for line in security)


async def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(
    capfd: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    forged = {"X-Forwarded-For": "198.51.100.66", "X-Real-IP": "198.51.100.66"}
    async with started(sqlite_url, access_log=True, trusted_proxies=("10.0.0.0/8",)) as app:
        async with client_from(app, "203.0.113.7") as untrusted, client_from(app, "10.1.2.3") as proxy:
            await untrusted.get("/ping", headers=forged)
            await proxy.get("/ping", headers={"X-Forwarded-For": "203.0.113.99"})
        app.access_log.flush()
    ips = [line["client_ip"] for line in json_lines(capfd.readouterr().out) if line.get("event") == "request"]
    assert ips == ["203.0.113.7", "203.0.113.99"]


def test_no_secret_ever_reaches_the_log(tmp_path: Path) -> None:
    """A full run through the real server, with every log on: no password, token or Authorization value in it."""
    env = {
        "AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/authgate.db",
        "AUTHGATE_ACCESS_LOG": "true",
        "AUTHGATE_LOG_LEVEL": "debug",
        "AUTHGATE_REFRESH_GRACE_SECONDS": "0",
        "AUTHGATE_MAIL_DIR": str(tmp_path / "mail"),  # mails into files, as a mail server would take them
    }
    (tmp_path / "mail").mkdir()
    secrets: list[str] = []
    old, new, wrong = PASSWORD, "a-completely-different-passphrase", "guessing-at-the-password"
    secrets += [old, new, wrong]
    with live_server(env, tmp_path, workers=2) as server, httpx.Client(base_url=server.url) as c:
        assert (
            c.post("/auth/register", json={"username": "dora", "email": "dora@example.com", "password": old})
        ).status_code == 201
        assert c.post("/auth/login", json={"username": "dora", "password": wrong}).status_code == 401
        pair = c.post("/auth/login", json={"username": "dora", "password": old}).json()
        assert c.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 200
        assert c.get("/auth/me", headers={"Authorization": "Bearer not.a.real-token-but-secret"}).status_code == 401
        refreshed = c.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).json()
        assert c.post(
            "/auth/password",
            json={"current_password": old, "new_password": new},
            headers=bearer(refreshed["access_token"]),
        ).status_code in (200, 204)
        assert c.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401  # reused
        again = c.post("/auth/login", json={"username": "dora", "password": new}).json()
        assert c.post("/auth/logout", headers=bearer(again["access_token"])).status_code == 204
        assert c.get("/auth/me", headers=bearer(again["access_token"])).status_code == 401
        for p in (pair, refreshed, again):
            secrets += [p["access_token"], p["access_token"].rsplit(".", 1)[1], p["refresh_token"]]
            secrets.append(f"Bearer {p['access_token']}")
        secrets += ["not.a.real-token-but-secret", "real-token-but-secret"]
        # and the browser pages: the session and CSRF cookies and the forms' tokens
        with httpx.Client(base_url=server.url) as browser:
            token = csrf_token(browser.get("/login").text)
            signed_in = browser.post("/login", data={"csrf_token": token, "username": "dora", "password": new})
            assert signed_in.status_code == 303
            account = browser.get("/account")
            assert account.status_code == 200
            cookies = [c.value for c in browser.cookies.jar if c.value and len(c.value) >= 16]
            assert len(cookies) >= 2
            secrets += [token, csrf_token(account.text), *cookies]
            signed_out = browser.post("/logout", data={"csrf_token": csrf_token(account.text)})
            assert signed_out.status_code == 303
    log = server.output()
    assert '"event":"login_success"' in log and '"route":"/auth/refresh"' in log  # the log is really there
    leaked = [s[:12] + "..." for s in secrets if s in log]
    assert leaked == []
