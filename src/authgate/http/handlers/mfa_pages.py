"""The browser side of two-step sign in, from the account page: set it up (/account/mfa/setup: the QR code),
turn it on (/account/mfa/confirm: the recovery codes), make new recovery codes, turn it off.

The same use cases as the JSON API (`domain/mfa.py`), behind the signed-in forms' CSRF checks; the second step
of the sign-in itself is `PageHandlers.login_mfa`. A page that shows a secret or recovery codes is never cached
(`no-store`, as every page).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from authgate.domain.auth import Principal
from authgate.domain.mfa import Enrollment
from authgate.domain.passwords import PASSWORD_MAX
from authgate.errors import MfaAlreadyEnabled, MfaNotEnabled, ValidationFailed
from authgate.http import csrf
from authgate.http.handlers.auth import client_info
from authgate.http.handlers.pages import MAX_FIELD, PageHandlers, field_errors, signed_in_page
from authgate.http.request import Request
from authgate.http.responses import Page, Response

security = logging.getLogger("authgate.security")

R = TypeVar("R")


def _proof_errors(form: dict[str, str], prefix: str) -> dict[str, str]:
    """What is missing from a form that takes the password and a code."""
    errors = {}
    password, code = form.get(prefix + "password", ""), form.get(prefix + "code", "")
    if not password or len(password) > PASSWORD_MAX:
        errors[prefix + "password"] = "Enter your password"
    if not code.strip() or len(code) > MAX_FIELD:
        errors[prefix + "code"] = "Enter a code from your authenticator app, or a recovery code"
    return errors


def qr_svg(text: str) -> str:
    """`text` as a QR code, in SVG to put in the page (segno is imported here: only this page needs it)."""
    import segno

    return str(segno.make(text, error="m").svg_inline(border=2, omitsize=True, dark="#111", light="#fff"))


class MfaPages:
    def __init__(self, pages: PageHandlers) -> None:
        self.pages = pages

    @signed_in_page("Set up two-step sign in: the QR code")
    async def setup(self, req: Request, principal: Principal, form: dict[str, str]) -> Response:
        password = form.get("setup_password", "")
        if not password or len(password) > PASSWORD_MAX:
            errors = {"setup_password": "Enter your password"}
            return await self.pages.account_page(req, principal, 422, errors=errors)
        try:
            enrollment = await req.services.mfa.enroll(principal, password, client_info(req))
        except ValidationFailed as exc:
            return await self.pages.account_page(req, principal, 422, errors=field_errors(exc, "setup_"))
        except MfaAlreadyEnabled:
            return self.pages.redirect("/account")
        return self._setup_page(req, principal, enrollment)

    def _setup_page(
        self,
        req: Request,
        principal: Principal,
        enrollment: Enrollment,
        status: int = 200,
        errors: dict[str, str] | None = None,
    ) -> Page:
        from markupsafe import Markup

        secret = enrollment.secret
        return self.pages.render(
            "mfa_setup.html",
            status,
            qr_svg=Markup(qr_svg(enrollment.uri)),  # noqa: S704 (segno's SVG of our own URI, no user markup)
            secret_groups=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            csrf_token=csrf.session_token(req.services.browser.csrf_secret, principal.session.id),
            errors=errors or {},
        )

    @signed_in_page("Turn on two-step sign in")
    async def confirm(self, req: Request, principal: Principal, form: dict[str, str]) -> Response:
        mfa = req.services.mfa
        typed = form.get("code", "")
        try:
            if not typed.strip() or len(typed) > MAX_FIELD:
                raise ValidationFailed([], "no code")
            codes = await mfa.confirm(principal, typed, client_info(req))
        except ValidationFailed:
            pending = await mfa.pending(principal)
            if pending is None:
                return self.pages.redirect("/account")
            errors = {"code": "That is not the code your app shows now; try the next one"}
            return self._setup_page(req, principal, pending, 422, errors)
        except (MfaNotEnabled, MfaAlreadyEnabled):
            return self.pages.redirect("/account")
        security.info("two-step login turned on", extra={"event": "mfa_enabled", "user_id": principal.user.id})
        return self.pages.render("mfa_codes.html", codes=codes, enabled_now=True)

    @signed_in_page("New recovery codes")
    async def renew_recovery_codes(self, req: Request, principal: Principal, form: dict[str, str]) -> Response:
        client = client_info(req)

        def shown(codes: list[str]) -> Response:
            security.info("recovery codes renewed", extra={"event": "mfa_recovery_codes", "user_id": principal.user.id})
            return self.pages.render("mfa_codes.html", codes=codes, enabled_now=False)

        return await self._proved(
            req,
            principal,
            form,
            "renew_",
            lambda password, code: req.services.mfa.renew_recovery_codes(principal, password, code, client),
            shown,
        )

    @signed_in_page("Turn off two-step sign in")
    async def disable(self, req: Request, principal: Principal, form: dict[str, str]) -> Response:
        client = client_info(req)

        def done(_: None) -> Response:
            security.info("two-step login turned off", extra={"event": "mfa_disabled", "user_id": principal.user.id})
            return self.pages.redirect("/account?notice=mfa_disabled")

        return await self._proved(
            req,
            principal,
            form,
            "disable_",
            lambda password, code: req.services.mfa.disable(principal, password, code, client),
            done,
        )

    async def _proved(
        self,
        req: Request,
        principal: Principal,
        form: dict[str, str],
        prefix: str,
        act: Callable[[str, str], Awaitable[R]],
        then: Callable[[R], Response],
    ) -> Response:
        """A form of the account page that takes the password and a code (its fields named with `prefix`): `act`
        with them, then answer with `then`; the account page with the form's mistakes if there are some."""
        errors = _proof_errors(form, prefix)
        if not errors:
            try:
                result = await act(form[prefix + "password"], form[prefix + "code"])
            except ValidationFailed as exc:
                errors = field_errors(exc, prefix)
            except MfaNotEnabled:
                return self.pages.redirect("/account")
            else:
                return then(result)
        return await self.pages.account_page(req, principal, 422, errors=errors)
