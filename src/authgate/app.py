"""`create_app(settings)`: the whole route table and the middleware order, in one place.

The app object speaks RSGI (Granian calls `__rsgi__`, `__rsgi_init__`, `__rsgi_del__`) and ASGI (`__call__`),
both through thin adapters over the same handlers. Nothing is built at import time; each worker process
builds its own services in `startup()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from authgate.config import Settings, load_settings
from authgate.http import asgi, rsgi
from authgate.http.asgi import Receive, Scope, Send, serve_asgi
from authgate.http.cors import cors
from authgate.http.deadlines import BodyDeadlines
from authgate.http.handlers import (
    audit,
    auth,
    docs,
    email,
    imports,
    metrics,
    mfa,
    passkeys,
    profile,
    system,
    users,
    wellknown,
)
from authgate.http.handlers.account_pages import AccountPages
from authgate.http.handlers.email_pages import EmailPages
from authgate.http.handlers.login_link_pages import LoginLinkPages
from authgate.http.handlers.mfa_pages import MfaPages
from authgate.http.handlers.pages import PageHandlers
from authgate.http.handlers.passkey_pages import PasskeyPages
from authgate.http.middleware import access_log, compose, recover, request_ids, security_headers
from authgate.http.operations import operation_of
from authgate.http.request import ProxyTrust, Request, client_address
from authgate.http.responses import Response
from authgate.http.router import Router
from authgate.http.rsgi import serve_rsgi
from authgate.observability.instruments import Instruments
from authgate.observability.logging import AccessLog, configure_logging
from authgate.observability.metrics import Metrics
from authgate.observability.tracing import Tracing, current_ids, request_spans
from authgate.services import Services

API_SECURITY_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
)
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'"
)
PAGE_SECURITY_HEADERS = (
    ("content-security-policy", PAGE_CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),  # not no-referrer: that would make the forms' Origin header "null"
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
)


def build_router(settings: Settings) -> Router:
    r = Router()
    r.add("GET", "/ping", system.ping)
    r.add("GET", "/health/live", system.live)
    r.add("GET", "/health/ready", system.ready)
    r.add("POST", "/auth/register", auth.register)
    r.add("POST", "/auth/login", auth.login)
    r.add("POST", "/auth/login/mfa", mfa.login_mfa)
    r.add("POST", "/auth/login/passkey/options", passkeys.login_options)
    r.add("POST", "/auth/login/passkey", passkeys.login)
    r.add("POST", "/auth/login/email", email.send_login_link)
    r.add("POST", "/auth/login/email/verify", email.login_with_link)
    r.add("POST", "/auth/refresh", auth.refresh)
    r.add("POST", "/auth/logout", auth.logout)
    r.add("GET", "/auth/me", auth.me)
    r.add("GET", "/auth/sessions", auth.sessions)
    r.add("DELETE", "/auth/sessions/{session_id}", auth.end_session)
    r.add("POST", "/auth/logout-all", auth.logout_all)
    r.add("POST", "/auth/password", auth.change_password)
    r.add("GET", "/auth/mfa", mfa.status)
    r.add("POST", "/auth/mfa/totp", mfa.enroll)
    r.add("POST", "/auth/mfa/totp/confirm", mfa.confirm)
    r.add("POST", "/auth/mfa/disable", mfa.disable)
    r.add("POST", "/auth/mfa/recovery-codes", mfa.renew_recovery_codes)
    r.add("GET", "/auth/passkeys", passkeys.list_passkeys)
    r.add("POST", "/auth/passkeys", passkeys.add)
    r.add("POST", "/auth/passkeys/registration-options", passkeys.registration_options)
    r.add("PATCH", "/auth/passkeys/{passkey_id}", passkeys.rename)
    r.add("DELETE", "/auth/passkeys/{passkey_id}", passkeys.remove)
    r.add("POST", "/auth/introspect", auth.introspect)
    r.add("PATCH", "/auth/me", profile.update_me)
    r.add("DELETE", "/auth/me", profile.delete_me)
    r.add("POST", "/auth/verify-email", email.verify_email)
    r.add("POST", "/auth/resend-verification", email.resend_verification)
    r.add("POST", "/auth/forgot-password", email.forgot_password)
    r.add("POST", "/auth/reset-password", email.reset_password)
    r.add("POST", "/auth/confirm-email-change", email.confirm_email_change)
    r.add("GET", "/.well-known/jwks.json", wellknown.jwks)
    r.add("GET", "/.well-known/openid-configuration", wellknown.openid_configuration)
    r.add("GET", "/users", users.list_users)
    r.add("POST", "/users", users.create_user)
    r.add("GET", "/users/{user_id}", users.get_user)
    r.add("PATCH", "/users/{user_id}", users.update_user)
    r.add("DELETE", "/users/{user_id}", users.delete_user)
    r.add("DELETE", "/users/{user_id}/mfa", mfa.reset)
    r.add("GET", "/users/{user_id}/sessions", users.list_user_sessions)
    r.add("GET", "/users/{user_id}/passkeys", passkeys.list_user_passkeys)
    r.add("DELETE", "/users/{user_id}/passkeys/{passkey_id}", passkeys.remove_user_passkey)
    r.add("POST", "/users/{user_id}/logout", users.logout_user)
    r.add("POST", "/users/{user_id}/password-link", users.send_password_link)
    r.add("POST", "/users/import", imports.import_users)
    r.add("GET", "/audit", audit.list_events)
    docs_page, docs_asset = docs.docs_handlers()
    r.add("GET", "/openapi.json", docs.openapi_handler(r, settings))
    r.add("GET", "/docs", docs_page)
    r.add("GET", "/docs/{asset}", docs_asset)
    pages = PageHandlers(settings)
    r.add("GET", "/", pages.home)
    r.add("GET", "/login", pages.login_page)
    r.add("POST", "/login", pages.login)
    r.add("POST", "/login/mfa", pages.login_mfa)
    passkey_pages = PasskeyPages(pages)
    r.add("POST", "/login/passkey", passkey_pages.login)
    login_link_pages = LoginLinkPages(pages)
    r.add("GET", "/login/email", login_link_pages.ask_page)
    r.add("POST", "/login/email", login_link_pages.ask)
    r.add("GET", "/login/email/verify", login_link_pages.follow_page)
    r.add("POST", "/login/email/verify", login_link_pages.follow)
    r.add("GET", "/register", pages.register_page)
    r.add("POST", "/register", pages.register)
    r.add("GET", "/account", pages.account)
    account_pages = AccountPages(pages)
    r.add("POST", "/account/password", account_pages.change_password)
    r.add("POST", "/account/sessions/end", account_pages.end_session)
    r.add("POST", "/account/sessions/end-all", account_pages.end_all_sessions)
    r.add("POST", "/account/delete", account_pages.delete_account)
    r.add("POST", "/account/passkeys/options", passkey_pages.options)
    r.add("POST", "/account/passkeys/add", passkey_pages.add)
    r.add("POST", "/account/passkeys/rename", passkey_pages.rename)
    r.add("POST", "/account/passkeys/remove", passkey_pages.remove)
    r.add("POST", "/logout", pages.logout)
    r.add("GET", "/static/{asset}", pages.asset)
    email_pages = EmailPages(pages)
    r.add("GET", "/forgot-password", email_pages.forgot_page)
    r.add("POST", "/forgot-password", email_pages.forgot)
    r.add("GET", "/reset-password", email_pages.reset_page)
    r.add("POST", "/reset-password", email_pages.reset)
    r.add("GET", "/verify-email", email_pages.verify_page)
    r.add("POST", "/verify-email", email_pages.verify)
    r.add("GET", "/confirm-email-change", email_pages.confirm_change_page)
    r.add("POST", "/confirm-email-change", email_pages.confirm_change)
    r.add("POST", "/account/verify-email", email_pages.resend)
    mfa_pages = MfaPages(pages)
    r.add("POST", "/account/mfa/setup", mfa_pages.setup)
    r.add("POST", "/account/mfa/confirm", mfa_pages.confirm)
    r.add("POST", "/account/mfa/recovery-codes", mfa_pages.renew_recovery_codes)
    r.add("POST", "/account/mfa/disable", mfa_pages.disable)
    if settings.metrics_enabled and not settings.metrics_port:
        r.add("GET", "/metrics", metrics.metrics)
    if settings.bench_endpoints:
        r.add("GET", "/bench/io", system.bench_io)
    return r


def page_paths(router: Router) -> frozenset[str]:
    """The paths of the browser pages (not the JSON API: no CORS there)."""
    return frozenset(r.template for r in router.routes if not getattr(operation_of(r.handler), "api", True))


class App:
    def __init__(self, settings: Settings, *, tracing: Tracing | None = None, migrated: bool = False) -> None:
        """`tracing`: the tracer to use (tests); by default the OTEL_* variables decide (observability/tracing.py).
        `migrated`: the database's migrations were applied before this app was made (by `authgate serve`, before
        it forks the workers), so that its start-up need not check them again."""
        self.settings = settings
        self.migrated = migrated
        self.router = build_router(settings)
        self.proxy_trust = ProxyTrust(settings.trusted_proxies)
        self.rsgi_address = client_address(rsgi.peer, self.proxy_trust)
        self.asgi_address = client_address(asgi.peer, self.proxy_trust)
        self.body_deadlines = BodyDeadlines(settings.body_read_timeout)
        self.tracing = tracing if tracing is not None else Tracing.from_environment()
        self.metrics = Metrics(settings.metrics_dir) if settings.metrics_enabled else None
        self.access_log = AccessLog(
            console=settings.log_format == "console", trace_ids=current_ids if self.tracing else None
        )
        finishers = [security_headers(API_SECURITY_HEADERS, PAGE_SECURITY_HEADERS)]
        middleware = []
        if settings.cors_origins:
            pages = page_paths(self.router)
            preflight, cors_headers = cors(
                settings.cors_origins,
                credentials=settings.cors_allow_credentials,
                max_age=settings.cors_max_age,
                skip=lambda path: path in pages or path.startswith("/static/"),
            )
            middleware.append(preflight)
            finishers.append(cors_headers)
        if self.metrics is not None:
            finishers.append(self.metrics.observe)  # it sees the error behind a problem response
        if settings.access_log:
            finishers.append(access_log(self.access_log, settings.access_log_sample))  # last: what the client got
        middleware.insert(0, recover(request_ids(), finishers, self.metrics))
        if self.tracing is not None:
            middleware.insert(0, request_spans(self.tracing))  # outermost: the access log line gets the trace id
        self.handle = compose(self.dispatch, middleware)
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the app has not started: call startup() (servers do this for you)")
        return self._services

    def dispatch(self, req: Request) -> Awaitable[Response]:
        """The route's handler for the request (its coroutine, not awaited here: one frame fewer a request)."""
        route, req.params = self.router.resolve(req.method, req.path)
        req.route = route.template
        return route.handler(req)

    async def startup(self) -> None:
        filters = [self.tracing.log_filter()] if self.tracing is not None else []
        configure_logging(self.settings.log_format, self.settings.log_level, filters)
        if self._services is None:
            if self.metrics is not None:
                self.metrics.start()
            instruments = Instruments(self.metrics, self.tracing)
            try:
                self._services = await Services.start(self.settings, migrate=not self.migrated, instruments=instruments)
            except BaseException:
                if self.metrics is not None:
                    self.metrics.close()  # no shutdown() follows a failed start
                raise
            if self._services.key_sync is not None:
                self._services.key_sync.start()
            if self._services.change_feed is not None:
                self._services.change_feed.start()
            if self._services.sweeper is not None:
                self._services.sweeper.start()
            self.body_deadlines.start()

    async def shutdown(self) -> None:
        self.access_log.flush()
        await self.body_deadlines.close()
        if self._services is not None:
            await self._services.close()
            self._services = None
        if self.metrics is not None:
            self.metrics.close()
        if self.tracing is not None:
            self.tracing.shutdown()

    # RSGI (Granian)
    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        from authgate.worker import collect_less_often, release_stop_signals, schedule_threads

        schedule_threads(self.settings.worker_scheduling)
        loop.run_until_complete(self.startup())
        collect_less_often()
        release_stop_signals(loop)  # a SIGTERM during the start-up stops the worker once Granian serves

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        from authgate.worker import unschedule_threads

        unschedule_threads(self.settings.worker_scheduling)
        loop.run_until_complete(self.shutdown())

    __rsgi__ = serve_rsgi  # `app.__rsgi__(scope, protocol)` is `serve_rsgi(app, scope, protocol)`

    # ASGI (uvicorn, httpx in tests)
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_asgi(self, scope, receive, send)


def create_app(settings: Settings | None = None, *, tracing: Tracing | None = None, migrated: bool = False) -> App:
    return App(settings if settings is not None else load_settings(), tracing=tracing, migrated=migrated)
