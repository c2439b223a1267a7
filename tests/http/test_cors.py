"""CORS for the JSON API: configured origins only, preflights answered, others get no CORS header, pages never."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from authgate.app import App, create_app
from authgate.config import ConfigError, load_settings
from helpers import bearer, login, make_settings, register

SPA = "https://app.example.com"


@pytest.fixture
async def cors_app(sqlite_url: str, request: pytest.FixtureRequest) -> AsyncIterator[App]:
    overrides: dict[str, Any] = getattr(request, "param", {"cors_origins": [SPA], "cors_allow_credentials": True})
    app = create_app(make_settings(sqlite_url, **overrides))
    await app.startup()
    yield app
    await app.shutdown()


@pytest.fixture
async def spa(cors_app: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=cors_app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as c:
        yield c


def _cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def test_an_allowed_origin_may_read_the_api(spa: httpx.AsyncClient) -> None:
    response = await spa.get("/ping", headers={"origin": SPA})
    assert response.headers["access-control-allow-origin"] == SPA
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in response.headers["access-control-expose-headers"]
    assert response.headers["vary"] == "Origin"
    await register(spa)
    failed = await spa.get("/auth/me", headers={"origin": SPA})  # errors too, so the app can read the 401
    assert failed.status_code == 401 and failed.headers["access-control-allow-origin"] == SPA
    assert "www-authenticate" in failed.headers["access-control-expose-headers"]
    tokens = await login(spa)
    me = await spa.get("/auth/me", headers={"origin": SPA, **bearer(tokens["access_token"])})
    assert me.status_code == 200 and me.headers["access-control-allow-origin"] == SPA


async def test_the_preflight_is_answered(spa: httpx.AsyncClient) -> None:
    response = await spa.options(
        "/auth/login",
        headers={
            "origin": SPA,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SPA
    assert set(response.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST", "PATCH", "DELETE"}
    assert {"authorization", "content-type"} <= set(response.headers["access-control-allow-headers"].split(", "))
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]
    assert response.content == b""
    # Answered inside the error handler, like any request: an id to quote, and the headers of the others.
    assert response.headers["x-request-id"] and response.headers["x-content-type-options"] == "nosniff"
    assert response.headers.get_list("access-control-allow-origin") == [SPA]  # once: the finisher left it alone


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "https://app.example.com.evil.example", SPA + ":443"]
)
async def test_other_origins_get_no_cors_headers(spa: httpx.AsyncClient, origin: str) -> None:
    response = await spa.get("/ping", headers={"origin": origin})
    assert response.status_code == 200
    assert _cors_headers(response) == {}
    assert response.headers["vary"] == "Origin"
    preflight = await spa.options("/auth/login", headers={"origin": origin, "access-control-request-method": "POST"})
    assert _cors_headers(preflight) == {}


async def test_the_pages_never_answer_another_origin(spa: httpx.AsyncClient) -> None:
    for path in ["/login", "/register", "/account", "/static/authgate.css"]:
        assert _cors_headers(await spa.get(path, headers={"origin": SPA})) == {}
    preflight = await spa.options("/login", headers={"origin": SPA, "access-control-request-method": "POST"})
    assert _cors_headers(preflight) == {} and preflight.status_code == 405


async def test_a_plain_options_request_is_not_a_preflight(spa: httpx.AsyncClient) -> None:
    response = await spa.options("/ping", headers={"origin": SPA})
    assert response.status_code == 405


@pytest.mark.parametrize("cors_app", [{"cors_origins": ["*"]}], indirect=True)
async def test_any_origin_without_credentials(spa: httpx.AsyncClient) -> None:
    response = await spa.get("/ping", headers={"origin": "https://anyone.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    assert "vary" not in response.headers


async def test_without_configured_origins_nothing_is_added(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping", headers={"origin": SPA})
    assert _cors_headers(response) == {} and "vary" not in response.headers
    preflight = await client.options("/auth/login", headers={"origin": SPA, "access-control-request-method": "POST"})
    assert preflight.status_code == 405 and _cors_headers(preflight) == {}


def test_any_origin_with_credentials_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="AUTHGATE_CORS_ORIGINS='\\*' with AUTHGATE_CORS_ALLOW_CREDENTIALS"):
        load_settings({"AUTHGATE_CORS_ORIGINS": "*", "AUTHGATE_CORS_ALLOW_CREDENTIALS": "true"})


@pytest.mark.parametrize(
    "origin",
    ["https://app.example.com/", "app.example.com", "https://App.example.com", "https://a.example:443", "null"],
)
def test_an_origin_must_be_written_as_browsers_send_it(origin: str) -> None:
    with pytest.raises(ConfigError, match="AUTHGATE_CORS_ORIGINS"):
        load_settings({"AUTHGATE_CORS_ORIGINS": origin})
    assert load_settings({"AUTHGATE_CORS_ORIGINS": f"{SPA}, http://localhost:5173"}).cors_origins == (
        SPA,
        "http://localhost:5173",
    )
