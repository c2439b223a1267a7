"""A real Flask app and a real FastAPI app protected by authgate.client, with the same routes, and one way
to call either, so that one test suite covers both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import ExitStack
from typing import Annotated, Any

import httpx
import msgspec
from fastapi import Depends, FastAPI
from flask import Flask, g

from authgate.client import Claims, TokenVerifier
from authgate.client import fastapi as authgate_fastapi
from authgate.client import flask as authgate_flask


class Answer(msgspec.Struct):
    status: int
    headers: dict[str, str]
    body: Any


Call = Callable[[str, str | None], Answer]
User = Annotated[Claims, Depends(authgate_fastapi.current_user)]
Admin = Annotated[Claims, Depends(authgate_fastapi.require_roles("admin"))]


def _view(claims: Claims, how: str) -> dict[str, Any]:
    return {"sub": claims.sub, "sid": claims.sid, "roles": list(claims.roles), "how": how}


def flask_app(verifier: TokenVerifier) -> Flask:
    app = Flask("protected")
    authgate_flask.init_app(app, verifier)

    @app.get("/me")
    @authgate_flask.login_required
    def me() -> dict[str, Any]:
        assert g.authgate_claims is authgate_flask.current_claims()
        return _view(authgate_flask.current_claims(), "sync")

    @app.get("/me/async")
    @authgate_flask.login_required
    async def me_async() -> dict[str, Any]:
        return _view(authgate_flask.current_claims(), "async")

    @app.get("/admin")
    @authgate_flask.roles_required("admin")
    def admin() -> dict[str, Any]:
        return _view(authgate_flask.current_claims(), "admin")

    @app.get("/items/<int:item>")
    @authgate_flask.login_required
    def item(item: int) -> dict[str, Any]:
        return {"item": item, "sub": authgate_flask.current_claims().sub}

    return app


def fastapi_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    authgate_fastapi.init_app(app, verifier)

    @app.get("/me")
    def me(user: User) -> dict[str, Any]:
        return _view(user, "sync")

    @app.get("/me/async")
    async def me_async(user: User) -> dict[str, Any]:
        return _view(user, "async")

    @app.get("/admin")
    async def admin(user: Admin) -> dict[str, Any]:
        return _view(user, "admin")

    @app.get("/items/{item}")
    async def item(item: int, user: User) -> dict[str, Any]:
        return {"item": item, "sub": user.sub}

    return app


def serve(framework: str, verifier: TokenVerifier, stack: ExitStack) -> Call:
    """An app of `framework` protected by `verifier`, as a function (path, Authorization header) -> Answer."""
    stack.callback(verifier.close)
    if framework == "flask":
        flask_client = flask_app(verifier).test_client()

        def call_flask(path: str, authorization: str | None) -> Answer:
            response = flask_client.get(path, headers=_headers(authorization))
            return Answer(response.status_code, {k.lower(): v for k, v in response.headers}, _json(response.data))

        return call_flask
    transport = httpx.ASGITransport(app=fastapi_app(verifier))

    async def get(path: str, authorization: str | None) -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.get(path, headers=_headers(authorization))

    def call_fastapi(path: str, authorization: str | None) -> Answer:
        response = asyncio.run(get(path, authorization))
        return Answer(response.status_code, dict(response.headers), _json(response.content))

    return call_fastapi


def _headers(authorization: str | None) -> dict[str, str]:
    return {} if authorization is None else {"Authorization": authorization}


def _json(data: bytes) -> Any:
    return json.loads(data) if data else None
