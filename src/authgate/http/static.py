"""The pages' own files (`web/static/*.css`, `*.svg`, `*.js`), read from the package once, at start.

Pages link them as `/static/<name>?v=<hash of the content>`, so they can be cached for a year: a new release
with new content has a new URL. Only the top level of `web/static/` is served (the API viewer's files under
`docs/` have their own route), by exact name from a dict: no path is ever joined from the request.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from authgate.errors import RouteNotFound
from authgate.http.request import Request
from authgate.http.responses import Response

TYPES = {
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".js": "text/javascript; charset=utf-8",
}
CACHE_FOREVER = "public, max-age=31536000, immutable"
ASSET_CSP = "default-src 'none'; style-src 'self'; frame-ancestors 'none'"
"""Also for an SVG opened on its own: no script, nothing from elsewhere."""


class _Asset:
    __slots__ = ("body", "content_type", "etag", "version")

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type
        digest = hashlib.sha256(body).hexdigest()
        self.version = digest[:12]
        self.etag = f'"{digest[:32]}"'


class StaticFiles:
    def __init__(self) -> None:
        folder = resources.files("authgate") / "web" / "static"
        self._assets: dict[str, _Asset] = {}
        for entry in folder.iterdir():
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if entry.is_file() and suffix in TYPES:
                self._assets[entry.name] = _Asset(entry.read_bytes(), TYPES[suffix])

    def url(self, name: str) -> str:
        """The versioned URL of a file (KeyError for an unknown one: a template's typo fails at start)."""
        return f"/static/{name}?v={self._assets[name].version}"

    async def serve(self, req: Request) -> Response:
        asset = self._assets.get(req.params["asset"])
        if asset is None:
            raise RouteNotFound("No such file")
        headers = [("etag", asset.etag), ("cache-control", CACHE_FOREVER), ("content-security-policy", ASSET_CSP)]
        if req.headers.get("if-none-match") == asset.etag:
            return Response(304, b"", headers)
        return Response(200, asset.body, [("content-type", asset.content_type), *headers])
