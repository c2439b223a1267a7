"""CSRF protection of the pages' forms: every POST carries a token that another site cannot know.

- Forms of a signed-in browser carry a synchronizer token bound to its session: an HMAC of the session id
  under the server's CSRF secret (`domain/browser.py`). It needs no storage and changes with every login.
- The login and registration forms have no session yet (login CSRF: another site signing the browser in to
  the attacker's account). They carry a signed double-submit token: a random nonce lives in a `SameSite=Strict`
  cookie, and the form carries the HMAC of that nonce. Another site can neither read the cookie nor compute
  the HMAC, and under HTTPS the `__Host-` prefix keeps other hosts from planting a cookie of their own.
- In depth, the request must come from one of this site's own pages: `Sec-Fetch-Site: same-origin` when the
  browser sends it (every current one does), and an `Origin`, when sent, of this site.

Any failure is `CsrfFailed` (403 csrf_failed) before the form is acted on: nothing changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from authgate.errors import CsrfFailed
from authgate.http.request import Request

FIELD = "csrf_token"
TAG_BYTES = 16
NONCE_BYTES = 16


def _tag(secret: bytes, purpose: bytes, value: str) -> str:
    digest = hmac.new(secret, purpose + b"\x00" + value.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TAG_BYTES]).rstrip(b"=").decode("ascii")


def session_token(secret: bytes, session_id: str) -> str:
    """The token of the forms of the browser signed in to `session_id`."""
    return _tag(secret, b"session", session_id)


def new_nonce() -> str:
    return secrets.token_urlsafe(NONCE_BYTES)


def nonce_token(secret: bytes, nonce: str) -> str:
    """The token of the login and registration forms of the browser holding the CSRF cookie `nonce`."""
    return _tag(secret, b"pre-session", nonce)


def verify(expected: str | None, presented: str | None) -> None:
    """Raise CsrfFailed unless `presented` is the `expected` token (compared in constant time)."""
    if not expected or not presented or not hmac.compare_digest(expected.encode(), presented.encode("utf-8")):
        raise CsrfFailed()


class SameOrigin:
    """Whether a request comes from this site's own pages, as far as the browser says."""

    __slots__ = ("issuer_origin", "scheme")

    def __init__(self, issuer: str) -> None:
        parts = urlsplit(issuer)
        self.scheme = parts.scheme
        self.issuer_origin = f"{parts.scheme}://{parts.netloc}".lower()

    def check(self, req: Request) -> None:
        site = req.headers.get("sec-fetch-site")
        if site is not None and site != "same-origin":
            raise CsrfFailed()
        origin = req.headers.get("origin")
        if origin is not None and not self.is_own(origin, req.headers.get("host")):
            raise CsrfFailed()

    def is_own(self, origin: str, host: str | None) -> bool:
        """The issuer's origin, or the origin the browser was talking to (this Host, under the issuer's
        scheme: `localhost:8080` in development, the public name behind a proxy that keeps Host)."""
        origin = origin.lower()
        return origin == self.issuer_origin or (bool(host) and origin == f"{self.scheme}://{host}".lower())
