"""Browser sign-in: a signed-in browser holds an opaque cookie bound to a server-side session.

A browser login is a login like the API's: `AuthService.login` checks the password behind the same rate limits,
back-off and audit, and starts a `Session`; this binds a new random cookie value (256 bits) to that session and
stores only its SHA-256. Every login makes a new session and a new cookie value, and ends the session the
browser held before, so a value planted in a browser before login is worth nothing after it (no fixation).

The cookie works while its session is active (not ended, `expires_at` not reached: the absolute timeout), its
user is not disabled, and it was used within the idle timeout (the session's `last_used_at`, written at most
once a minute so that page views stay reads). Ending the session, from any device or the API, ends the cookie.

The forms' CSRF tokens are HMACs under a server secret kept in the key store (`csrf_secret`, made on first
start like the refresh-rotation secret); the HTTP side (`http/csrf.py`) derives and checks them.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import msgspec

from authgate.domain.auth import AuthService, Principal, TokenPair
from authgate.domain.clients import ClientInfo
from authgate.domain.clock import Clock
from authgate.domain.server_secrets import server_secret
from authgate.domain.sessions import Session
from authgate.domain.tokens import AccessClaims
from authgate.domain.users import User
from authgate.storage.base import Database

CSRF_SECRET = "browser_csrf"  # noqa: S105  (a name, not a secret)
COOKIE_BYTES = 32
COOKIE_LENGTH = 43
"""`secrets.token_urlsafe(32)`: 43 characters of base64url."""
TOUCH_INTERVAL = timedelta(seconds=60)
"""`last_used_at` is written only when older than this: the idle clock is exact to a minute."""


class BrowserLogin(msgspec.Struct, frozen=True):
    cookie: str
    """The new cookie value: for the browser only, never stored."""
    session_id: str
    user_id: str
    device_token: str | None = None


def hash_cookie(value: str) -> bytes:
    return hashlib.sha256(value.encode("ascii")).digest()


def _well_formed(value: str) -> bool:
    return len(value) == COOKIE_LENGTH and value.isascii() and all(c.isalnum() or c in "-_" for c in value)


class BrowserSessions:
    def __init__(self, *, db: Database, auth: AuthService, csrf_secret: bytes, idle_timeout: int, clock: Clock) -> None:
        if len(csrf_secret) < 32:
            raise ValueError("the CSRF secret must be at least 32 bytes")
        self.db = db
        self.auth = auth
        self.csrf_secret = csrf_secret
        self.idle_timeout = timedelta(seconds=idle_timeout)
        self.clock = clock

    @classmethod
    async def bootstrap(cls, *, db: Database, auth: AuthService, idle_timeout: int, clock: Clock) -> BrowserSessions:
        """With the server's CSRF secret, made on first start (once, whatever the concurrency)."""
        secret = await server_secret(db, CSRF_SECRET, clock)
        return cls(db=db, auth=auth, csrf_secret=secret, idle_timeout=idle_timeout, clock=clock)

    async def login(self, login: str, password: str, client: ClientInfo, previous: str | None = None) -> BrowserLogin:
        """Check the password (`AuthService.login`: MfaRequired when a code is due), start a session bound to a new
        cookie value, and end the session of the `previous` cookie value, if the browser held one."""
        return await self._bind(await self.auth.login(login, password, client), client, previous)

    async def login_second_factor(
        self, mfa_token: str, code: str, client: ClientInfo, previous: str | None = None
    ) -> BrowserLogin:
        """The second step of a login that raised MfaRequired (`AuthService.login_second_factor`), bound to a new
        cookie value as `login` binds the first."""
        return await self._bind(await self.auth.login_second_factor(mfa_token, code, client), client, previous)

    async def login_passkey(
        self, credential: Mapping[str, Any], client: ClientInfo, previous: str | None = None
    ) -> BrowserLogin:
        """A login with a passkey (`AuthService.login_passkey`), bound to a new cookie value as `login` binds one."""
        return await self._bind(await self.auth.login_passkey(credential, client), client, previous)

    async def login_email_link(self, token: str, client: ClientInfo, previous: str | None = None) -> BrowserLogin:
        """A login with a mailed link (`AuthService.login_email_link`: MfaRequired when a code is due), bound to a
        new cookie value as `login` binds one."""
        return await self._bind(await self.auth.login_email_link(token, client), client, previous)

    async def _bind(self, pair: TokenPair, client: ClientInfo, previous: str | None) -> BrowserLogin:
        cookie = secrets.token_urlsafe(COOKIE_BYTES)
        async with self.db.transaction() as tx:
            await tx.browser_sessions.add(hash_cookie(cookie), pair.session_id, self.clock())
        if previous is not None:
            held = await self.current(previous)
            if held is not None:
                await self.auth.logout(held, client)
        return BrowserLogin(cookie, pair.session_id, pair.user_id, pair.device_token)

    async def current(self, cookie: str | None) -> Principal | None:
        """Who holds this cookie value, or None when it is unknown, ended, expired or idle too long."""
        if not cookie or not _well_formed(cookie):
            return None
        async with self.db.reader() as r:
            found = await r.browser_sessions.get(hash_cookie(cookie))
        if found is None:
            return None
        session, user = found
        now = self.clock()
        if not session.is_active(now) or user.disabled:
            return None
        idle = now - session.last_used_at
        if idle > self.idle_timeout:
            async with self.db.transaction() as tx:
                await tx.sessions.end(session.id, now)
            return None
        if idle >= TOUCH_INTERVAL:
            async with self.db.transaction() as tx:
                await tx.browser_sessions.touch(session.id, now)
            session.last_used_at = now
        return Principal(self._claims(user, session), user, session)

    async def sessions(self, principal: Principal) -> list[Session]:
        """The user's active sessions, newest first, as `AuthService.sessions` lists them, less the browser
        sessions idle past the timeout (they are over: they end for good at their next use)."""
        now = self.clock()
        async with self.db.reader() as r:
            sessions = await r.sessions.list_for_user(principal.user.id, now)
            browsers = await r.browser_sessions.session_ids(principal.user.id)
        return [s for s in sessions if s.id not in browsers or now - s.last_used_at <= self.idle_timeout]

    def _claims(self, user: User, session: Session) -> AccessClaims:
        """What an access token for this session would say: the use cases that take a `Principal` see a
        cookie session exactly as they see a bearer one (no token is issued; `jti` is empty)."""
        tokens = self.auth.tokens
        issued = int(session.created_at.timestamp())
        return AccessClaims(
            iss=tokens.issuer,
            sub=user.id,
            aud=tokens.audience,
            exp=int(session.expires_at.timestamp()),
            iat=issued,
            nbf=issued,
            jti="",
            sid=session.id,
            roles=user.roles,
            username=user.username,
            email_verified=user.email_verified,
            amr=session.amr,
        )
