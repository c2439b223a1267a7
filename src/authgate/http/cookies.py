"""The cookie transport of browser sign-in: which cookies, with which attributes, and reading them back.

The bearer transport (`bearer.py`) carries an access token in a header; this one carries an opaque session
cookie that only the server can map to a session (`domain/browser.py`). Three cookies, all `HttpOnly`:

- the session (`SameSite=Lax`, so that a link from elsewhere opens the account page signed in; a POST from
  elsewhere carries no cookie, and the forms' CSRF token stops the rest),
- the pre-session CSRF nonce of the login and registration forms (`SameSite=Strict`; see `csrf.py`),
- the known-device token that lets this browser past its account's login back-off (`domain/devices.py`).

Served over HTTPS (the issuer is `https://`), the names carry the `__Host-` prefix, which browsers accept only
with `Secure`, `Path=/` and no `Domain`: no other host, a sibling subdomain included, can set or shadow them.
In development (`http://`) the names are plain and `Secure` is left off, or the browser would drop them.
"""

from __future__ import annotations

from authgate.http.request import Request

SESSION = "authgate_session"
CSRF = "authgate_csrf"
DEVICE = "authgate_device"
DEVICE_MAX_AGE = 180 * 24 * 3600
MAX_VALUE = 256
"""Longer values are never ours: ignored without a look-up."""


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of the first cookie called `name` in a Cookie header (several headers may arrive joined
    with ", ", which no value of ours contains)."""
    if not header or name not in header:
        return None
    for part in header.replace(",", ";").split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            return value if 0 < len(value) <= MAX_VALUE else None
    return None


class CookieTransport:
    __slots__ = ("_attributes", "csrf_name", "device_name", "secure", "session_name")

    def __init__(self, secure: bool) -> None:
        prefix = "__Host-" if secure else ""
        self.secure = secure
        self.session_name = prefix + SESSION
        self.csrf_name = prefix + CSRF
        self.device_name = prefix + DEVICE
        self._attributes = "; Path=/; HttpOnly" + ("; Secure" if secure else "")

    def _read(self, req: Request, name: str) -> str | None:
        return cookie_value(req.headers.get("cookie"), name)

    def _set(self, name: str, value: str, same_site: str, max_age: int | None = None) -> tuple[str, str]:
        lifetime = "" if max_age is None else f"; Max-Age={max_age}"
        return ("set-cookie", f"{name}={value}{self._attributes}; SameSite={same_site}{lifetime}")

    # the session: a browser-session cookie (gone when the browser closes); the server keeps the timeouts
    def session(self, req: Request) -> str | None:
        return self._read(req, self.session_name)

    def set_session(self, value: str) -> tuple[str, str]:
        return self._set(self.session_name, value, "Lax")

    def clear_session(self) -> tuple[str, str]:
        return self._set(self.session_name, "", "Lax", max_age=0)

    # the login and registration forms' CSRF nonce
    def csrf_nonce(self, req: Request) -> str | None:
        return self._read(req, self.csrf_name)

    def set_csrf_nonce(self, nonce: str) -> tuple[str, str]:
        return self._set(self.csrf_name, nonce, "Strict")

    # the known-device token
    def device(self, req: Request) -> str | None:
        return self._read(req, self.device_name)

    def set_device(self, token: str) -> tuple[str, str]:
        return self._set(self.device_name, token, "Strict", max_age=DEVICE_MAX_AGE)
