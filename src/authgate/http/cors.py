"""CORS for the JSON API: single-page apps on the origins in AUTHGATE_CORS_ORIGINS may call it from a browser.

Composed only when origins are configured (otherwise the API pays nothing). Its headers are added by one of
the error handler's finishers, which see every response, so that a 401 or 422 problem reaches the app's script
too. The browser pages are not part of it: they never answer another origin.

- A request without `Origin` (servers, curl, same-origin pages) passes untouched but for `Vary: Origin`.
- An allowed origin gets `Access-Control-Allow-Origin` naming it (or `*` when configured so, never together
  with credentials: configuration refuses that), `Access-Control-Allow-Credentials` when configured, and the
  response headers a client may read (`Access-Control-Expose-Headers`).
- A preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin is answered here, 204,
  with the methods, the request headers the API reads, and `Access-Control-Max-Age`.
- Any other origin gets no CORS header at all, so the browser keeps the response from its page; its preflight
  answers 204 without them, which the browser takes as a refusal.
"""

from __future__ import annotations

from collections.abc import Callable

from authgate.http.middleware import Finisher, Middleware
from authgate.http.request import Request
from authgate.http.responses import Response
from authgate.http.router import Handler

ALLOW_METHODS = "GET, POST, PATCH, DELETE"
ALLOW_HEADERS = "authorization, content-type, x-request-id"
EXPOSE_HEADERS = "location, retry-after, www-authenticate, x-request-id, etag"
_VARY = ("vary", "Origin")
_PREFLIGHT_VARY = ("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")


def cors(
    origins: tuple[str, ...], *, credentials: bool, max_age: int, skip: Callable[[str], bool]
) -> tuple[Middleware, Finisher]:
    """CORS for `origins`, in two parts, both inside `recover` (so a preflight gets a request id, metrics and its
    access-log line like any request): the middleware that answers preflights, and the finisher that gives every
    other response its CORS headers, problem responses included. `skip(path)` is true for the paths that are
    not the JSON API."""
    any_origin = "*" in origins
    allowed = frozenset(o for o in origins if o != "*")
    extra: list[tuple[str, str]] = [("access-control-expose-headers", EXPOSE_HEADERS)]
    if credentials:
        extra.append(("access-control-allow-credentials", "true"))
    preflight_extra = [
        ("access-control-allow-methods", ALLOW_METHODS),
        ("access-control-allow-headers", ALLOW_HEADERS),
        ("access-control-max-age", str(max_age)),
    ]
    if credentials:
        preflight_extra.append(("access-control-allow-credentials", "true"))

    def allow_origin(origin: str) -> str | None:
        if origin in allowed:
            return origin
        return "*" if any_origin and origin != "null" else None

    def is_preflight(req: Request) -> bool:
        return req.method == "OPTIONS" and req.headers.get("access-control-request-method") is not None

    def middleware(handler: Handler) -> Handler:
        async def cors_preflight(req: Request) -> Response:
            if is_preflight(req) and (origin := req.headers.get("origin")) is not None and not skip(req.path):
                headers = [_PREFLIGHT_VARY]
                granted = allow_origin(origin)
                if granted is not None:
                    headers += [("access-control-allow-origin", granted), *preflight_extra]
                return Response(204, b"", headers)
            return await handler(req)

        return cors_preflight

    def add_cors_headers(req: Request, response: Response, seconds: float, error: BaseException | None) -> None:
        origin = req.headers.get("origin")
        if origin is None:
            if not any_origin:
                response.headers.append(_VARY)
            return
        if skip(req.path) or is_preflight(req):  # not the API; or answered above, with the headers it needs
            return
        granted = allow_origin(origin)
        if granted is not None:
            response.headers += [("access-control-allow-origin", granted), *extra]
        if not any_origin:
            response.headers.append(_VARY)

    return middleware, add_cors_headers
