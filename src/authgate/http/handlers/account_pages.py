"""The account page's forms that change the account itself: the password, its sessions (one, or all), and
deleting it. The same use cases as the JSON API, behind the signed-in forms' CSRF checks (`PageHandlers`), each
answering with the account page and the form's mistakes, or a redirect with a notice.
"""

from __future__ import annotations

import logging

from authgate.domain.auth import Principal
from authgate.domain.passwords import PASSWORD_MAX
from authgate.errors import LastAdmin, SessionNotFound, ValidationFailed
from authgate.http.handlers.auth import client_info
from authgate.http.handlers.pages import MAX_FIELD, PageHandlers, field_errors, signed_in_page
from authgate.http.redirects import login_url
from authgate.http.request import Request
from authgate.http.responses import Response

security = logging.getLogger("authgate.security")


class AccountPages:
    def __init__(self, pages: PageHandlers) -> None:
        self.pages = pages

    @signed_in_page("Change my password")
    async def change_password(self, req: Request, principal: Principal, form: dict[str, str]) -> Response:
        current, new = form.get("current_password", ""), form.get("new_password", "")
        errors: dict[str, str] = {}
        if not current:
            errors["current_password"] = "Enter your current password"  # noqa: S105 (a message, not a password)
        if new != form.get("new_password_confirm", ""):
            errors["new_password_confirm"] = "Does not match the new password"  # noqa: S105 (a message, not a password)
        if len(current) > PASSWORD_MAX or len(new) > PASSWORD_MAX:
            errors["new_password"] = f"Must be at most {PASSWORD_MAX} characters"
        if not errors:
            try:
                await req.services.auth.change_password(principal, current, new, client_info(req))
            except ValidationFailed as exc:
                errors = field_errors(exc)
        if errors:
            return await self.pages.account_page(req, principal, 422, errors=errors)
        security.info("password changed", extra={"event": "password_change", "user_id": principal.user.id})
        return self.pages.redirect("/account?notice=password_changed")

    @signed_in_page("Sign out one of my sessions")
    async def end_session(self, req: Request, principal: Principal, form: dict[str, str]) -> Response:
        session_id = form.get("session_id", "")
        try:
            await req.services.auth.end_session(principal, session_id, client_info(req))
        except SessionNotFound:
            return self.pages.redirect("/account?notice=session_gone")
        security.info("session ended", extra={"event": "session_end", "user_id": principal.user.id})
        if session_id == principal.session.id:
            return self.pages.redirect(login_url(notice="signed_out"), [self.pages.cookies.clear_session()])
        return self.pages.redirect("/account?notice=session_ended")

    @signed_in_page("Sign out everywhere")
    async def end_all_sessions(self, req: Request, principal: Principal, _form: dict[str, str]) -> Response:
        ended = await req.services.auth.logout_all(principal, client=client_info(req))
        security.info("logout everywhere", extra={"event": "logout_all", "user_id": principal.user.id, "ended": ended})
        return self.pages.redirect(login_url(notice="signed_out_everywhere"), [self.pages.cookies.clear_session()])

    @signed_in_page("Delete my account")
    async def delete_account(self, req: Request, principal: Principal, form: dict[str, str]) -> Response:
        password, code = form.get("delete_password", ""), form.get("delete_code", "")
        errors: dict[str, str] = {}
        if not password or len(password) > PASSWORD_MAX:
            errors["delete_password"] = "Enter your password"  # noqa: S105 (a message, not a password)
        if len(code) > MAX_FIELD:
            errors["delete_code"] = "Enter a code from your authenticator app, or a recovery code"
        if not errors:
            try:
                await req.services.profile.delete_account(principal, password, code, client_info(req))
            except ValidationFailed as exc:
                errors = field_errors(exc, "delete_")
            except LastAdmin:
                errors = {"delete_password": "You are the last admin: make another user an admin first"}
        if errors:
            return await self.pages.account_page(req, principal, 422, errors=errors)
        security.info("account deleted by its user", extra={"event": "account_delete", "user_id": principal.user.id})
        return self.pages.redirect(login_url(notice="account_deleted"), [self.pages.cookies.clear_session()])
