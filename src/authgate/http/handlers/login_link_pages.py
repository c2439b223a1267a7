"""The browser side of sign-in links (AUTHGATE_EMAIL_LOGIN): /login/email asks for one, and the mailed link opens
/login/email/verify. As for every mailed link, a GET never uses the token (mail scanners fetch links before
people do): it shows a button, and only its POST signs in, through the same use case as the JSON API
(`AuthService.login_email_link`, by way of `BrowserSessions` for the cookie), then asks for the code of two-step
login when it is on, on the sign-in page's code form. A `next` path given to the sign-in page travels with the
form, in the mailed link and through the code form, as it does for a password.
"""

from __future__ import annotations

from authgate.domain.email_flows import human_duration
from authgate.domain.email_tokens import MAX_EMAIL_TOKEN_LENGTH, RefusedToken
from authgate.domain.users import EMAIL_MAX
from authgate.errors import EmailLoginDisabled, MfaRequired, ValidationFailed
from authgate.http.handlers.auth import client_info
from authgate.http.handlers.email import limit_mail
from authgate.http.handlers.email_pages import email_error
from authgate.http.handlers.pages import PageHandlers, field_errors, page
from authgate.http.redirects import safe_next
from authgate.http.request import Request
from authgate.http.responses import Page, Response


class LoginLinkPages:
    def __init__(self, pages: PageHandlers) -> None:
        self.pages = pages

    @page("The sign-in-link page: ask for a link")
    async def ask_page(self, req: Request) -> Response:
        _enabled(req)
        return self._page(req, next_path=safe_next(req.query.get("next")))

    @page("Mail me a sign-in link")
    async def ask(self, req: Request) -> Response:
        _enabled(req)
        form = await self.pages.pre_session_form(req)
        email = form.get("email", "").strip()
        next_path = safe_next(form.get("next"))
        message = email_error(email)
        if message is not None:
            return self._page(req, 422, email=email[:EMAIL_MAX], errors={"email": message}, next_path=next_path)
        await limit_mail(req, email)
        try:
            req.services.email.send_login_link(email, client_info(req), then=next_path)
        except ValidationFailed as exc:
            return self._page(req, 422, email=email, errors=field_errors(exc), next_path=next_path)
        expires_in = human_duration(req.services.settings.email_login_ttl)
        return self.pages.render(
            "login_email.html", state="sent", email=email, expires_in=expires_in, errors={}, next=next_path or ""
        )

    @page("The sign-in-link page (the link of the mail)")
    async def follow_page(self, req: Request) -> Response:
        _enabled(req)
        token = (req.query.get("token") or "")[: MAX_EMAIL_TOKEN_LENGTH + 1]
        next_path = safe_next(req.query.get("next"))
        if not await req.services.email.usable(token, "login"):
            return self._page(req, 400, state="invalid", next_path=next_path)
        return self._page(req, state="follow", token=token, next_path=next_path)

    @page("Sign in with a mailed link")
    async def follow(self, req: Request) -> Response:
        _enabled(req)
        services = req.services
        await services.rate_limits.hit("login", ip=req.client_ip)
        form = await self.pages.pre_session_form(req)
        token = form.get("token", "")[: MAX_EMAIL_TOKEN_LENGTH + 1]
        next_path = safe_next(form.get("next"))
        client = client_info(req, self.pages.cookies.device(req))
        try:
            signed = await services.browser.login_email_link(token, client, previous=self.pages.cookies.session(req))
        except RefusedToken:
            return self._page(req, 400, state="invalid", next_path=next_path)
        except MfaRequired as exc:
            return self.pages.code_form(req, exc.mfa_token, next_path=next_path)
        return self.pages.session_started(req, signed, next_path)

    def _page(
        self, req: Request, status: int = 200, *, state: str = "ask", email: str = "", token: str = "",
        errors: dict[str, str] | None = None, next_path: str | None = None,
    ) -> Page:  # fmt: skip
        csrf_token, cookie = self.pages.nonce_token(req)
        return self.pages.render(
            "login_email.html", status, cookie, csrf_token=csrf_token, state=state, email=email, token=token,
            errors=errors or {}, expires_in="", next=next_path or "",
        )  # fmt: skip


def _enabled(req: Request) -> None:
    if not req.services.settings.email_login:
        raise EmailLoginDisabled()
