"""The browser pages: sign in, register, the account page, sign out; and what every page handler is built on
(the layout, the forms, their CSRF checks). The account page's own forms are in `account_pages.py`.

Thin like the API's handlers: check where the form comes from and its CSRF token, read it, call the same use
cases as the API (`AuthService`, through `BrowserSessions` for the cookie), then render a page or redirect
(303, so that a reload never posts again). A form with mistakes comes back with each message next to its
field and what was typed, never a password. Errors render as an HTML page with the problem's status.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from authgate.config import Settings
from authgate.domain.auth import Principal
from authgate.domain.browser import BrowserLogin
from authgate.domain.passwords import PASSWORD_MAX
from authgate.domain.users import EMAIL_MAX
from authgate.errors import (
    AuthgateError,
    CsrfFailed,
    EmailTaken,
    Forbidden,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidMfaToken,
    MfaRequired,
    RateLimited,
    Unavailable,
    UsernameTaken,
    ValidationFailed,
)
from authgate.http import csrf
from authgate.http.cookies import CookieTransport
from authgate.http.decoding import read_form
from authgate.http.handlers.auth import client_info
from authgate.http.operations import operation
from authgate.http.problems import status_of
from authgate.http.redirects import DEFAULT_NEXT, login_url, safe_next
from authgate.http.request import Request
from authgate.http.responses import Page, Response
from authgate.http.static import StaticFiles
from authgate.http.templates import Templates

security = logging.getLogger("authgate.security")

HTML = "text/html; charset=utf-8"
MAX_FIELD = 1024
NOTICES = {
    "registered": "Your account is ready. Sign in to continue.",
    "check_email": "Check your email to finish, then sign in.",
    "signed_out": "You are signed out.",
    "signed_out_everywhere": "You are signed out on every device.",
    "session_ended": "That session is signed out.",
    "session_gone": "That session had already ended.",
    "password_changed": "Your password is changed. Your other sessions are signed out.",
    "password_reset": "Your password is changed, and every session is signed out. Sign in with the new one.",
    "verification_sent": "We have mailed you a new link to verify your email address.",
    "mfa_expired": "That sign-in took too long. Please sign in again.",
    "mfa_disabled": "Two-step sign in is off: your password alone signs you in.",
    "account_deleted": "Your account is deleted.",
    "passkey_added": "Your passkey is added: it signs you in without your password.",
    "passkey_removed": "That passkey no longer signs you in.",
    "passkey_gone": "That passkey had already been removed.",
    "passkey_renamed": "Your passkey has its new name.",
}


class BuiltOnPages(Protocol):
    """Page handlers: these, and those built on their layout, forms and CSRF checks (`handlers/account_pages.py`,
    `handlers/email_pages.py`, `handlers/mfa_pages.py`)."""

    @property
    def pages(self) -> PageHandlers: ...


P = TypeVar("P", bound=BuiltOnPages)
Handler = Callable[[P, Request], Awaitable[Response]]


def page(summary: str) -> Callable[[Handler[P]], Handler[P]]:
    """A page handler: left out of the API's document, and its errors rendered as an HTML page."""

    def wrap(method: Handler[P]) -> Handler[P]:
        @functools.wraps(method)
        async def handler(self: P, req: Request) -> Response:
            try:
                return await method(self, req)
            except AuthgateError as exc:
                return self.pages.error_page(req, exc)

        return operation(summary, tag="pages", api=False, media_type="text/html")(handler)

    return wrap


SignedInHandler = Callable[[P, Request, Principal, dict[str, str]], Awaitable[Response]]


def signed_in_page(summary: str) -> Callable[[SignedInHandler[P]], Handler[P]]:
    """A page (`page`) of the signed-in browser, the seed's `@login_required`: the method is given the principal
    and its form (same origin and CSRF token checked); a browser that is not signed in goes to the sign-in page."""

    def wrap(method: SignedInHandler[P]) -> Handler[P]:
        @functools.wraps(method)
        async def handler(self: P, req: Request) -> Response:
            principal, form = await self.pages.signed_in(req)
            if principal is None:
                return self.pages.redirect(login_url(DEFAULT_NEXT))
            return await method(self, req, principal, form)

        return page(summary)(handler)

    return wrap


def _capitalised(message: str) -> str:
    return message[:1].upper() + message[1:]


def field_errors(exc: ValidationFailed, prefix: str = "") -> dict[str, str]:
    """The domain's field errors, for a form; under `prefix` + the field's name for one of several forms of a page
    (the account page's)."""
    errors: dict[str, str] = {}
    for error in exc.errors:
        errors.setdefault(prefix + error.field, _capitalised(error.message))
    return errors


class PageHandlers:
    def __init__(self, settings: Settings) -> None:
        self.static = StaticFiles()
        self.templates = Templates(self.static)
        self.cookies = CookieTransport(settings.secure_cookies)
        self.same_origin = csrf.SameOrigin(settings.issuer)

    @property
    def pages(self) -> PageHandlers:
        return self

    # -- rendering ---------------------------------------------------------------------------------------------

    def render(
        self, name: str, status: int = 200, headers: list[tuple[str, str]] | None = None, **context: Any
    ) -> Page:
        body = self.templates.render(name, **context)
        return Page(status, body, [("content-type", HTML), ("cache-control", "no-store"), *(headers or [])])

    @staticmethod
    def redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Page:
        return Page(303, b"", [("location", location), ("cache-control", "no-store"), *(headers or [])])

    def error_page(self, req: Request, exc: AuthgateError) -> Page:
        headers: list[tuple[str, str]] = []
        if isinstance(exc, RateLimited | Unavailable):
            headers.append(("retry-after", str(exc.retry_after)))
        status = status_of(exc)
        return self.render(
            "error.html", status, headers, code=status, title=exc.title, detail=exc.detail, request_id=req.request_id
        )

    # -- who is signed in, and CSRF -------------------------------------------------------------------------------

    async def current(self, req: Request) -> Principal | None:
        principal = await req.services.browser.current(self.cookies.session(req))
        if principal is not None:
            req.user_id = principal.user.id
        return principal

    def nonce_token(self, req: Request) -> tuple[str, list[tuple[str, str]]]:
        """The login/registration forms' token, and the cookie to set when the browser has no nonce yet."""
        nonce = self.cookies.csrf_nonce(req)
        headers = []
        if nonce is None:
            nonce = csrf.new_nonce()
            headers.append(self.cookies.set_csrf_nonce(nonce))
        return csrf.nonce_token(req.services.browser.csrf_secret, nonce), headers

    async def _read(self, req: Request) -> dict[str, str]:
        self.same_origin.check(req)
        if req.headers.get("content-type") is None:
            raise CsrfFailed()  # no form, so no token
        return await read_form(req)

    async def pre_session_form(self, req: Request) -> dict[str, str]:
        """The login or registration form, once its origin and its double-submit token are checked."""
        form = await self._read(req)
        nonce = self.cookies.csrf_nonce(req)
        expected = csrf.nonce_token(req.services.browser.csrf_secret, nonce) if nonce else None
        csrf.verify(expected, form.get(csrf.FIELD))
        return form

    async def session_form(self, req: Request, principal: Principal) -> dict[str, str]:
        """A signed-in form, once its origin and its session-bound token are checked."""
        form = await self._read(req)
        csrf.verify(csrf.session_token(req.services.browser.csrf_secret, principal.session.id), form.get(csrf.FIELD))
        return form

    # -- pages ---------------------------------------------------------------------------------------------------

    @page("Home: the account page, or sign in")
    async def home(self, req: Request) -> Response:
        return self.redirect(DEFAULT_NEXT)

    @page("The sign-in page")
    async def login_page(self, req: Request) -> Response:
        next_path = safe_next(req.query.get("next"))
        if await self.current(req) is not None:
            return self.redirect(next_path or DEFAULT_NEXT)
        return self.login_form(req, next_path=next_path, notice=NOTICES.get(req.query.get("notice", "")))

    def login_form(
        self,
        req: Request,
        status: int = 200,
        *,
        username: str = "",
        errors: dict[str, str] | None = None,
        message: str | None = None,
        next_path: str | None = None,
        notice: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> Page:
        token, cookie = self.nonce_token(req)
        return self.render(
            "login.html",
            status,
            [*cookie, *(headers or [])],
            csrf_token=token,
            username=username,
            errors=errors or {},
            message=message,
            next=next_path or "",
            notice=notice,
            passkeys=req.services.passkeys.relying_party.available,
            email_login=req.services.settings.email_login,
        )

    @page("Sign in")
    async def login(self, req: Request) -> Response:
        services = req.services
        await services.rate_limits.hit("login", ip=req.client_ip)
        form = await self.pre_session_form(req)
        username, password = form.get("username", ""), form.get("password", "")
        next_path = safe_next(form.get("next"))
        errors = {}
        if not username.strip():
            errors["username"] = "Enter your username or email address"
        elif len(username) > EMAIL_MAX:
            errors["username"] = f"Must be at most {EMAIL_MAX} characters"
        if not password:
            errors["password"] = "Enter your password"  # noqa: S105 (a message, not a password)
        elif len(password) > PASSWORD_MAX:
            errors["password"] = f"Must be at most {PASSWORD_MAX} characters"
        if errors:
            return self.login_form(req, 422, username=username[:MAX_FIELD], errors=errors, next_path=next_path)
        client = client_info(req, self.cookies.device(req))
        try:
            signed = await services.browser.login(username, password, client, previous=self.cookies.session(req))
        except InvalidCredentials:
            security.info(
                "login failed",
                extra={"event": "login_failure", "client_ip": req.client_ip, "request_id": req.request_id},
            )
            message = "Wrong username or password."
            return self.login_form(req, 422, username=username, message=message, next_path=next_path)
        except MfaRequired as exc:
            return self.code_form(req, exc.mfa_token, next_path=next_path)
        except (RateLimited, Forbidden) as exc:  # the back-off, or an unverified email address
            headers = [("retry-after", str(exc.retry_after))] if isinstance(exc, RateLimited) else []
            return self.login_form(
                req, status_of(exc), username=username, message=exc.detail, next_path=next_path, headers=headers
            )
        return self.session_started(req, signed, next_path)

    def code_form(
        self,
        req: Request,
        mfa_token: str,
        status: int = 200,
        *,
        errors: dict[str, str] | None = None,
        message: str | None = None,
        next_path: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> Page:
        token, cookie = self.nonce_token(req)
        return self.render(
            "login_mfa.html",
            status,
            [*cookie, *(headers or [])],
            csrf_token=token,
            mfa_token=mfa_token,
            errors=errors or {},
            message=message,
            next=next_path or "",
        )

    @page("Sign in: the code of the second step")
    async def login_mfa(self, req: Request) -> Response:
        services = req.services
        await services.rate_limits.hit("mfa", ip=req.client_ip)
        form = await self.pre_session_form(req)
        mfa_token, typed = form.get("mfa_token", ""), form.get("code", "")
        next_path = safe_next(form.get("next"))
        if not mfa_token or len(mfa_token) > MAX_FIELD:
            return self.redirect(login_url(next_path, "mfa_expired"))
        if not typed.strip() or len(typed) > MAX_FIELD:
            errors = {"code": "Enter the code from your authenticator app"}
            return self.code_form(req, mfa_token, 422, errors=errors, next_path=next_path)
        client = client_info(req, self.cookies.device(req))
        try:
            signed = await services.browser.login_second_factor(
                mfa_token, typed, client, previous=self.cookies.session(req)
            )
        except InvalidMfaToken:
            return self.redirect(login_url(next_path, "mfa_expired"))
        except InvalidMfaCode:
            security.info(
                "second factor failed",
                extra={"event": "mfa_failure", "client_ip": req.client_ip, "request_id": req.request_id},
            )
            errors = {"code": "That code is not valid"}
            return self.code_form(req, mfa_token, 422, errors=errors, next_path=next_path)
        except RateLimited as exc:
            headers = [("retry-after", str(exc.retry_after))]
            return self.code_form(req, mfa_token, 429, message=exc.detail, next_path=next_path, headers=headers)
        return self.session_started(req, signed, next_path)

    def session_started(self, req: Request, signed: BrowserLogin, next_path: str | None) -> Page:
        """The redirect after a login that started a browser session (its cookie, and the device's)."""
        req.user_id = signed.user_id
        security.info(
            "login succeeded",
            extra={
                "event": "login_success",
                "user_id": signed.user_id,
                "session_id": signed.session_id,
                "client_ip": req.client_ip,
                "request_id": req.request_id,
                "via": "browser",
            },
        )
        headers = [self.cookies.set_session(signed.cookie)]
        if signed.device_token:
            headers.append(self.cookies.set_device(signed.device_token))
        return self.redirect(next_path or DEFAULT_NEXT, headers)

    @page("The registration page")
    async def register_page(self, req: Request) -> Response:
        next_path = safe_next(req.query.get("next"))
        if await self.current(req) is not None:
            return self.redirect(next_path or DEFAULT_NEXT)
        return self._register_form(req, next_path=next_path)

    def _register_form(
        self,
        req: Request,
        status: int = 200,
        *,
        username: str = "",
        email: str = "",
        errors: dict[str, str] | None = None,
        next_path: str | None = None,
    ) -> Page:
        token, cookie = self.nonce_token(req)
        return self.render(
            "register.html",
            status,
            cookie,
            csrf_token=token,
            username=username[:MAX_FIELD],
            email=email[:MAX_FIELD],
            errors=errors or {},
            next=next_path or "",
            closed=not req.services.settings.registration_open,
        )

    @page("Register")
    async def register(self, req: Request) -> Response:
        services = req.services
        await services.rate_limits.hit("register", ip=req.client_ip)
        form = await self.pre_session_form(req)
        username, email = form.get("username", ""), form.get("email", "")
        password, confirm = form.get("password", ""), form.get("password_confirm", "")
        next_path = safe_next(form.get("next"))
        errors: dict[str, str] = {}
        if password != confirm:
            errors["password_confirm"] = "Does not match the password"  # noqa: S105 (a message, not a password)
        elif len(username) > MAX_FIELD or len(email) > MAX_FIELD or len(password) > PASSWORD_MAX:
            errors["username"] = "Too long"
        else:
            client = client_info(req)
            try:
                user = await services.auth.register(username, email, password, client=client)
                req.user_id = user.id
                security.info("user registered", extra={"event": "register", "user_id": user.id, "via": "browser"})
            except ValidationFailed as exc:
                errors = field_errors(exc)
            except UsernameTaken:
                errors["username"] = "This username is taken"
            except EmailTaken:
                if not services.settings.hide_account_existence:
                    errors["email"] = "This email address is already registered"
                else:  # the same answer as for a new account; the owner of this one is told
                    await services.auth.existing_account(email, client)
        if errors:
            return self._register_form(req, 422, username=username, email=email, errors=errors, next_path=next_path)
        notice = "check_email" if services.settings.hide_account_existence else "registered"
        return self.redirect(login_url(next_path, notice))

    @page("The account page: profile, sessions, password")
    async def account(self, req: Request) -> Response:
        principal = await self.current(req)
        if principal is None:
            here = req.path + ("?" + req.query_string if req.query_string else "")
            return self.redirect(login_url(safe_next(here) or DEFAULT_NEXT))
        return await self.account_page(req, principal, notice=NOTICES.get(req.query.get("notice", "")))

    async def account_page(
        self,
        req: Request,
        principal: Principal,
        status: int = 200,
        *,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
        renaming: str = "",
    ) -> Page:
        """`renaming`: the id of the passkey whose rename form `errors` are about."""
        sessions = await req.services.browser.sessions(principal)
        passkeys = req.services.passkeys
        return self.render(
            "account.html",
            status,
            user=principal.user,
            current_session=principal.session,
            sessions=sessions,
            mfa=await req.services.mfa.status(principal),
            passkeys=await passkeys.list(principal.user.id) if passkeys.relying_party.available else None,
            csrf_token=csrf.session_token(req.services.browser.csrf_secret, principal.session.id),
            errors=errors or {},
            notice=notice,
            renaming=renaming,
        )

    async def signed_in(self, req: Request) -> tuple[Principal | None, dict[str, str]]:
        """The principal and its checked form, or (None, {}) when the browser is not signed in."""
        principal = await self.current(req)
        if principal is None:
            self.same_origin.check(req)
            return None, {}
        return principal, await self.session_form(req, principal)

    @page("Sign out")
    async def logout(self, req: Request) -> Response:
        principal, _ = await self.signed_in(req)
        if principal is not None:
            await req.services.auth.logout(principal, client_info(req))
            security.info("logout", extra={"event": "logout", "user_id": principal.user.id, "via": "browser"})
        return self.redirect(login_url(notice="signed_out"), [self.cookies.clear_session()])

    @page("A file of the pages (CSS, icon)")
    async def asset(self, req: Request) -> Response:
        return await self.static.serve(req)
