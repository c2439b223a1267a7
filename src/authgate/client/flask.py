"""Flask: `@login_required` and `@roles_required(...)`; the view reads the claims with `current_claims()`.

    from flask import Flask
    from authgate.client import TokenVerifier
    from authgate.client.flask import current_claims, init_app, login_required, roles_required

    app = Flask(__name__)
    init_app(app, TokenVerifier("https://auth.example.com"))

    @app.get("/me")
    @login_required
    def me():
        return {"user": current_claims().sub}

    @app.get("/admin")
    @roles_required("admin")
    def admin(): ...

The decorators answer by themselves, without going through the app's error handlers: 401 with
`WWW-Authenticate: Bearer error="invalid_token"` (or plain `Bearer` when no token was sent), 403 `forbidden`
when a role is missing, 503 when authgate's keys cannot be fetched; all as application/problem+json.
The claims are also on `flask.g.authgate_claims`. Async views work as well (Flask's `ensure_sync`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec

from flask import Flask, Response, current_app, g, request
from flask.typing import ResponseReturnValue

from authgate.client.errors import ClientError
from authgate.client.tokens import Claims, require_roles
from authgate.client.verifier import TokenVerifier
from authgate.client.web import bearer_token, error_response

EXTENSION = "authgate"

P = ParamSpec("P")
View = Callable[P, ResponseReturnValue]


def init_app(app: Flask, verifier: TokenVerifier) -> None:
    """Protect this app's decorated views with `verifier`."""
    app.extensions[EXTENSION] = verifier


def current_claims() -> Claims:
    """The claims of the caller, inside a view decorated with `login_required` or `roles_required`."""
    claims = g.get("authgate_claims")
    if not isinstance(claims, Claims):
        raise RuntimeError("current_claims() needs a view decorated with @login_required or @roles_required")
    return claims


def login_required(view: View[P]) -> View[P]:
    return roles_required()(view)


def roles_required(*roles: str) -> Callable[[View[P]], View[P]]:
    """Require a valid access token whose `roles` include every one of `roles`."""

    def decorate(view: View[P]) -> View[P]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            try:
                claims = _verifier().verify(bearer_token(request.headers.get("Authorization")))
                require_roles(claims, roles)
            except ClientError as error:
                return _problem(error)
            g.authgate_claims = claims
            result: ResponseReturnValue = current_app.ensure_sync(view)(*args, **kwargs)
            return result

        return wrapper

    return decorate


def _verifier() -> TokenVerifier:
    verifier: Any = current_app.extensions.get(EXTENSION)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("call authgate.client.flask.init_app(app, verifier) first")
    return verifier


def _problem(error: ClientError) -> Response:
    answer = error_response(error)
    return Response(answer.body, status=answer.status, headers=answer.headers)
