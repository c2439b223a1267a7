"""GET /openapi.json and GET /docs, in process (the live contract check is tests/e2e/test_openapi_schemathesis.py)."""

from __future__ import annotations

import httpx

from authgate.app import build_router
from authgate.config import load_settings
from authgate.http.handlers.docs import DOCS_CSP
from authgate.http.openapi import build_openapi
from authgate.http.operations import operation_of


def test_every_route_has_an_operation() -> None:
    settings = load_settings({}, bench_endpoints=True)
    router = build_router(settings)
    document = build_openapi(router, settings, strict=True)  # raises MissingOperation otherwise
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    api = {(r.method, r.template) for r in router.routes if getattr(operation_of(r.handler), "api", True)}
    assert documented == api
    assert ("GET", "/login") not in documented  # the browser pages are not the API


def test_every_operation_lists_its_problems() -> None:
    settings = load_settings({})
    document = build_openapi(build_router(settings), settings, strict=True)
    users = document["paths"]["/users/{user_id}"]["patch"]
    assert users["security"] == [{"bearer": []}]
    codes = {
        status: response["content"]["application/problem+json"]["schema"]["properties"]["code"]["enum"]
        for status, response in users["responses"].items()
        if status.startswith(("4", "5"))
    }
    assert codes["401"] == ["missing_token", "invalid_token", "session_ended"]
    assert codes["403"] == ["forbidden", "second_factor_required"]
    assert codes["404"] == ["user_not_found"]
    assert codes["409"] == ["email_taken", "last_admin"]
    assert codes["422"] == ["validation_failed"]
    assert codes["500"] == ["internal_error"]
    assert "password" not in document["components"]["schemas"]["UpdateUserRequest"]["properties"]
    assert document["components"]["schemas"]["UpdateUserRequest"]["additionalProperties"] is False
    ping = document["paths"]["/ping"]["get"]
    assert set(ping["responses"]) == {"200", "500"} and "security" not in ping
    limit = next(p for p in document["paths"]["/users"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["minimum"] == 1 and limit["schema"]["maximum"] == 200


async def test_the_document_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    again = await client.get("/openapi.json", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_the_docs_page_runs_from_the_package_under_a_strict_csp(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == DOCS_CSP
    assert "script-src 'self';" in DOCS_CSP and "unsafe-eval" not in DOCS_CSP
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN, nothing from elsewhere
    for asset, kind in [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("init.js", "text/javascript"),
        ("LICENSE.swagger-ui.txt", "text/plain"),
    ]:
        response = await client.get(f"/docs/{asset}")
        assert response.status_code == 200, asset
        assert response.headers["content-type"].startswith(kind)
        assert response.headers["x-content-type-options"] == "nosniff"
    for missing in ["nope.js", "index.html", "..%2Fpyproject.toml", "%2E%2E"]:
        assert (await client.get(f"/docs/{missing}")).status_code == 404
