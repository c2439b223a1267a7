"""What only one framework adapter has: Flask's `current_claims()`, FastAPI's OpenAPI scheme and Starlette."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fake_authgate import FakeAuthgate
from fastapi import Depends, FastAPI
from flask import Flask
from protected_apps import fastapi_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authgate.client import TokenVerifier
from authgate.client.fastapi import authenticate, current_user
from authgate.client.fastapi import init_app as init_starlette
from authgate.client.flask import current_claims, login_required


def test_flask_current_claims_outside_a_protected_view() -> None:
    app = Flask("x")
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="login_required"):
        current_claims()


def test_flask_without_init_app_is_a_loud_error() -> None:
    app = Flask("x")

    @app.get("/me")
    @login_required
    def me() -> str:
        return "no"

    with app.test_request_context("/me"), pytest.raises(RuntimeError, match="init_app"):
        me()


def test_fastapi_documents_the_bearer_scheme() -> None:
    with TokenVerifier("https://auth.example.com") as verifier:
        schema = fastapi_app(verifier).openapi()
    assert schema["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An authgate access token",
    }
    assert schema["paths"]["/me"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "parameters" not in schema["paths"]["/me"]["get"]


def test_a_plain_starlette_app(authgate: FakeAuthgate) -> None:
    async def me(request: Request) -> JSONResponse:
        claims = await authenticate(request)
        return JSONResponse({"sub": claims.sub})

    app = Starlette(routes=[Route("/me", me)])

    async def get(authorization: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.get("/me", headers={"authorization": authorization})

    with authgate.verifier() as verifier:
        init_starlette(app, verifier)
        assert asyncio.run(get(f"Bearer {authgate.token()}")).json() == {"sub": "user-1"}
        refused = asyncio.run(get("Bearer nope"))
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_fastapi_without_init_app_is_a_loud_error(authgate: FakeAuthgate) -> None:
    app = FastAPI()

    @app.get("/me", dependencies=[Depends(current_user)])
    async def me() -> None: ...

    async def get() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            await client.get("/me", headers={"authorization": f"Bearer {authgate.token()}"})

    with pytest.raises(RuntimeError, match="init_app"):
        asyncio.run(get())
