"""Where a page may send the browser next: `?next=` is honoured only when it is a path on this site.

An open redirect turns the login page into a phishing tool (`/login?next=https://evil.example` lands a freshly
signed-in user on the attacker's look-alike). Browsers are generous in what they take for another host:
`//evil.example`, `/\\evil.example` (a backslash is a slash to them), `/\t/evil.example` (tabs and newlines
are dropped), `https:evil.example`. So the rule is narrow rather than clever: printable ASCII only, one
leading `/` not followed by another `/` or a `\\`, no backslash anywhere, and no scheme or host once parsed.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

MAX_NEXT = 1024
DEFAULT_NEXT = "/account"


def safe_next(value: str | None) -> str | None:
    """`value` when it is a path (with an optional query) on this site; otherwise None."""
    if not value or len(value) > MAX_NEXT or not value.startswith("/"):
        return None
    if value.startswith(("//", "/\\")) or "\\" in value:
        return None
    if any(not (0x21 <= ord(c) <= 0x7E) for c in value):  # controls, spaces, DEL and anything not ASCII
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    return value


def login_url(next_path: str | None = None, notice: str | None = None) -> str:
    """`/login?notice=...&next=<the path>`: the sign-in page, with a notice, and where to go once signed in."""
    query = [f"notice={quote(notice, safe='')}"] if notice else []
    if next_path:
        query.append("next=" + quote(next_path, safe="/"))
    return "/login?" + "&".join(query) if query else "/login"
