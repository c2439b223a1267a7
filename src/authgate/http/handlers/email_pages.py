"""The browser side of the email flows: /forgot-password, /reset-password, /verify-email, /confirm-email-change,
and the account page's "mail me the link again" (/account/verify-email).

The mails' links open these pages. A GET never uses a token (mail scanners fetch links before people do): it
shows a form, and only the form's POST (with the pages' CSRF token, `http/csrf.py`) acts, through the same use
cases as the JSON API (`domain/email_flows.py`). Built on the pages' handlers (`handlers/pages.py`): their
layout, forms, CSRF checks and error page.
"""

from __future__ import annotations

from authgate.domain.email_flows import human_duration
from authgate.domain.email_tokens import MAX_EMAIL_TOKEN_LENGTH, Purpose, RefusedToken
from authgate.domain.passwords import PASSWORD_MAX
from authgate.domain.users import EMAIL_MAX
from authgate.errors import EmailTaken, ValidationFailed
from authgate.http.handlers.auth import client_info
from authgate.http.handlers.email import limit_mail
from authgate.http.handlers.pages import MAX_FIELD, PageHandlers, page
from authgate.http.redirects import DEFAULT_NEXT, login_url
from authgate.http.request import Request
from authgate.http.responses import Page, Response

CHANGE_TAKEN = "That address now belongs to another account; your address is unchanged."


def _messages(exc: ValidationFailed) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors:
        errors.setdefault(error.field, error.message[:1].upper() + error.message[1:])
    return errors


def email_error(email: str) -> str | None:
    """What is wrong with an address typed in a form, before it is validated (or None)."""
    if not email:
        return "Enter your email address"
    return f"Must be at most {EMAIL_MAX} characters" if len(email) > EMAIL_MAX else None


def _token(value: str | None) -> str:
    return (value or "")[: MAX_EMAIL_TOKEN_LENGTH + 1]  # longer is refused anyway; never echo a huge value


class EmailPages:
    def __init__(self, pages: PageHandlers) -> None:
        self.pages = pages

    # -- forgot password ---------------------------------------------------------------------------------------

    @page("The forgot-password page")
    async def forgot_page(self, req: Request) -> Response:
        return self._forgot_form(req)

    def _forgot_form(
        self, req: Request, status: int = 200, *, email: str = "", errors: dict[str, str] | None = None
    ) -> Page:
        token, cookie = self.pages.nonce_token(req)
        return self.pages.render(
            "forgot_password.html", status, cookie, csrf_token=token, email=email[:MAX_FIELD], errors=errors or {},
            sent=False, expires_in="",
        )  # fmt: skip

    @page("Mail me a password reset link")
    async def forgot(self, req: Request) -> Response:
        form = await self.pages.pre_session_form(req)
        email = form.get("email", "").strip()
        message = email_error(email)
        if message is not None:
            return self._forgot_form(req, 422, email=email, errors={"email": message})
        await limit_mail(req, email)
        try:
            req.services.email.forgot_password(email, client_info(req))
        except ValidationFailed as exc:
            return self._forgot_form(req, 422, email=email, errors=_messages(exc))
        expires_in = human_duration(req.services.settings.password_reset_ttl)
        return self.pages.render(
            "forgot_password.html", csrf_token="", email=email, errors={}, sent=True, expires_in=expires_in
        )

    # -- reset password ----------------------------------------------------------------------------------------

    @page("The reset-password page (the link of the mail)")
    async def reset_page(self, req: Request) -> Response:
        token = _token(req.query.get("token"))
        if not await req.services.email.usable(token, "reset_password"):
            return self._reset_form(req, 400, token="", invalid=True)
        return self._reset_form(req, token=token)

    def _reset_form(
        self,
        req: Request,
        status: int = 200,
        *,
        token: str,
        errors: dict[str, str] | None = None,
        invalid: bool = False,
    ) -> Page:
        csrf_token, cookie = self.pages.nonce_token(req)
        return self.pages.render(
            "reset_password.html", status, cookie, csrf_token=csrf_token, token=token, errors=errors or {},
            invalid=invalid,
        )  # fmt: skip

    @page("Choose a new password")
    async def reset(self, req: Request) -> Response:
        form = await self.pages.pre_session_form(req)
        token = _token(form.get("token"))
        new, confirm = form.get("new_password", ""), form.get("new_password_confirm", "")
        errors: dict[str, str] = {}
        if new != confirm:
            errors["new_password_confirm"] = "Does not match the new password"  # noqa: S105 (a message)
        elif len(new) > PASSWORD_MAX:
            errors["new_password"] = f"Must be at most {PASSWORD_MAX} characters"
        if errors:
            return self._reset_form(req, 422, token=token, errors=errors)
        try:
            await req.services.email.reset_password(token, new, client_info(req))
        except RefusedToken:
            return self._reset_form(req, 400, token="", invalid=True)
        except ValidationFailed as exc:
            return self._reset_form(req, 422, token=token, errors=_messages(exc))
        return self.pages.redirect(login_url(notice="password_reset"), [self.pages.cookies.clear_session()])

    # -- verify an address, confirm a new one --------------------------------------------------------------------

    @page("Mail me the verification link again (the account page)")
    async def resend(self, req: Request) -> Response:
        principal = await self.pages.current(req)
        if principal is None:
            self.pages.same_origin.check(req)
            return self.pages.redirect(login_url(DEFAULT_NEXT))
        await self.pages.session_form(req, principal)
        if not principal.user.email_verified:
            await limit_mail(req, principal.user.email_key)
            req.services.email.resend_verification(principal.user)
        return self.pages.redirect("/account?notice=verification_sent")

    @page("The verify-email page (the link of the mail)")
    async def verify_page(self, req: Request) -> Response:
        return await self._confirm_page(req, "verify_email")

    @page("Verify my email address")
    async def verify(self, req: Request) -> Response:
        return await self._confirm(req, "verify_email")

    @page("The confirm-email-change page (the link of the mail)")
    async def confirm_change_page(self, req: Request) -> Response:
        return await self._confirm_page(req, "change_email")

    @page("Confirm my new email address")
    async def confirm_change(self, req: Request) -> Response:
        return await self._confirm(req, "change_email")

    async def _confirm_page(self, req: Request, purpose: Purpose) -> Page:
        token = _token(req.query.get("token"))
        if not await req.services.email.usable(token, purpose):
            return self._verify_page(req, purpose, 400, state="invalid")
        return self._verify_page(req, purpose, token=token)

    def _verify_page(
        self, req: Request, purpose: Purpose, status: int = 200, *, state: str = "confirm", token: str = "",
        message: str = "",
    ) -> Page:  # fmt: skip
        csrf_token, cookie = self.pages.nonce_token(req)
        return self.pages.render(
            "verify_email.html", status, cookie, csrf_token=csrf_token, token=token, state=state,
            change=purpose == "change_email", message=message,
        )  # fmt: skip

    async def _confirm(self, req: Request, purpose: Purpose) -> Page:
        form = await self.pages.pre_session_form(req)
        token = _token(form.get("token"))
        flows = req.services.email
        try:
            if purpose == "change_email":
                user = await flows.confirm_email_change(token, client_info(req))
            else:
                user = await flows.verify_email(token, client_info(req))
        except RefusedToken:
            return self._verify_page(req, purpose, 400, state="invalid")
        except EmailTaken:
            return self._verify_page(req, purpose, 409, state="invalid", message=CHANGE_TAKEN)
        req.user_id = user.id
        return self._verify_page(req, purpose, state="done")
