"""FastAPI (and Starlette): the dependency `current_user` and the dependency factory `require_roles(...)`.

    from typing import Annotated
    from fastapi import Depends, FastAPI
    from authgate.client import Claims, TokenVerifier
    from authgate.client.fastapi import current_user, init_app, require_roles

    app = FastAPI()
    init_app(app, TokenVerifier("https://auth.example.com"))

    @app.get("/me")
    async def me(user: Annotated[Claims, Depends(current_user)]):
        return {"user": user.sub}

    @app.get("/admin")
    async def admin(user: Annotated[Claims, Depends(require_roles("admin"))]): ...

Failures raise `AuthgateHTTPException`, an `HTTPException` with the right status and headers (401 with
`WWW-Authenticate: Bearer error="invalid_token"`, 403, 503 with `Retry-After`); the handler `init_app`
installs renders it as application/problem+json. Plain Starlette apps can call `authenticate(request)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPBearer
from starlette.applications import Starlette
from starlette.responses import Response

from authgate.client.errors import ClientError
from authgate.client.tokens import Claims
from authgate.client.tokens import require_roles as check_roles
from authgate.client.verifier import TokenVerifier
from authgate.client.web import bearer_token, error_response

_bearer = HTTPBearer(auto_error=False, description="An authgate access token")
"""Only documents the scheme in the OpenAPI schema; the header is read by `authenticate`."""


class AuthgateHTTPException(HTTPException):
    def __init__(self, error: ClientError) -> None:
        self.response = error_response(error)
        super().__init__(self.response.status, error.detail, dict(self.response.headers))


def init_app(app: FastAPI | Starlette, verifier: TokenVerifier) -> None:
    """Protect this app with `verifier`, and render the client's errors as problem+json."""
    app.state.authgate_verifier = verifier
    app.add_exception_handler(AuthgateHTTPException, _render)


async def authenticate(request: Request) -> Claims:
    """The caller's claims, or `AuthgateHTTPException`."""
    verifier: Any = getattr(request.app.state, "authgate_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("call authgate.client.fastapi.init_app(app, verifier) first")
    try:
        return await verifier.averify(bearer_token(request.headers.get("authorization")))
    except ClientError as error:
        raise AuthgateHTTPException(error) from None


async def current_user(request: Request, _: Annotated[object, Depends(_bearer)]) -> Claims:
    """Dependency: the claims of a valid access token."""
    return await authenticate(request)


def require_roles(*roles: str) -> Callable[..., Awaitable[Claims]]:
    """Dependency factory: the claims of a valid access token whose `roles` include every one of `roles`."""

    async def dependency(claims: Annotated[Claims, Depends(current_user)]) -> Claims:
        try:
            check_roles(claims, roles)
        except ClientError as error:
            raise AuthgateHTTPException(error) from None
        return claims

    return dependency


async def _render(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, AuthgateHTTPException):  # registered for that class only
        raise exc
    return Response(exc.response.body, exc.response.status, dict(exc.response.headers))
