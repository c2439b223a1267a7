"""The pages' Jinja2 templates (`web/templates/*.html`), loaded and compiled once, when the first page is asked
for (Jinja2 and the compiling cost some 50 ms that a worker's start need not wait for).

Autoescaping is on for every template, and an undefined name is an error rather than an empty string, so a
value a user typed can only ever reach a page as escaped text. Two filters: `when` (a time, in UTC) and
`device` (a short name for a User-Agent).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from authgate.http.static import StaticFiles

if TYPE_CHECKING:
    import jinja2

PAGES = (
    "login.html",
    "login_mfa.html",
    "login_email.html",
    "register.html",
    "account.html",
    "error.html",
    "forgot_password.html",
    "reset_password.html",
    "verify_email.html",
    "mfa_setup.html",
    "mfa_codes.html",
)


def when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"))
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device(user_agent: str) -> str:
    """`Chrome on Linux`, `Safari on iPhone`, or the start of an unknown agent (`curl/8.5.0`)."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    if browser is None and "Safari/" in user_agent:
        browser = "Safari"
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or user_agent[:40]


class Templates:
    def __init__(self, static: StaticFiles) -> None:
        self._static = static
        self._pages: dict[str, jinja2.Template] = {}

    def _load(self) -> dict[str, jinja2.Template]:
        import jinja2

        env = jinja2.Environment(
            loader=jinja2.PackageLoader("authgate", "web/templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        env.globals["static"] = self._static.url
        env.filters["when"] = when
        env.filters["device"] = device
        return {name: env.get_template(name) for name in PAGES}

    def render(self, name: str, **context: Any) -> bytes:
        if not self._pages:
            self._pages = self._load()
        return self._pages[name].render(**context).encode("utf-8")
