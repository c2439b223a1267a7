"""GET /openapi.json (the generated OpenAPI document) and GET /docs (Swagger UI, served from the package).

Both are built once, at their first request, and then answered from memory with an ETag. The viewer's page has
a strict Content-Security-Policy: scripts and styles from this origin only (Swagger UI sets inline style
attributes, hence `style-src 'unsafe-inline'`), no inline script, no outside connection.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

from authgate.config import Settings
from authgate.errors import RouteNotFound
from authgate.http.openapi import build_openapi
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import JSON, Response, encode
from authgate.http.router import Handler, Router

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}


class _Cached:
    __slots__ = ("body", "content_type", "etag")

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    def response(self, req: Request, cache_control: str, extra: list[tuple[str, str]] | None = None) -> Response:
        headers = [("etag", self.etag), ("cache-control", cache_control), *(extra or [])]
        if req.headers.get("if-none-match") == self.etag:
            return Response(304, b"", headers)
        return Response(200, self.body, [("content-type", self.content_type), *headers])


def _load_assets() -> dict[str, _Cached]:
    folder = resources.files("authgate") / "web" / "static" / "docs"
    assets: dict[str, _Cached] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _TYPES:
            assets[entry.name] = _Cached(entry.read_bytes(), _TYPES[suffix])
    return assets


def openapi_handler(router: Router, settings: Settings) -> Handler:
    """The handler of GET /openapi.json for this route table (complete by the time of the first request)."""
    cached: list[_Cached] = []

    @operation("The OpenAPI 3.1 document of this API", tag="docs", response=dict[str, Any], uses_database=False)
    async def openapi_json(req: Request) -> Response:
        if not cached:
            cached.append(_Cached(encode(build_openapi(router, settings)), JSON))
        return cached[0].response(req, "no-cache")

    return openapi_json


def docs_handlers() -> tuple[Handler, Handler]:
    """The handlers of GET /docs (the viewer's page) and GET /docs/{asset} (its files)."""
    assets: dict[str, _Cached] = {}

    def load() -> dict[str, _Cached]:
        if not assets:
            assets.update(_load_assets())
        return assets

    @operation("API documentation (Swagger UI)", tag="docs", response=str, media_type="text/html", uses_database=False)
    async def docs_page(req: Request) -> Response:
        return load()["index.html"].response(req, "no-cache", [("content-security-policy", DOCS_CSP)])

    @operation(
        "A file of the documentation page",
        tag="docs",
        response=str,
        media_type=("text/javascript", "text/css", "text/plain"),
        errors=(RouteNotFound,),
        uses_database=False,
    )
    async def docs_asset(req: Request) -> Response:
        asset = load().get(req.params["asset"])
        if asset is None or req.params["asset"] == "index.html":
            raise RouteNotFound("No such documentation file")
        return asset.response(req, "public, max-age=86400")

    return docs_page, docs_asset
