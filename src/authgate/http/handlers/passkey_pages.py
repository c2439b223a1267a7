"""The pages' passkeys: signing in with one from the sign-in page, and adding and removing them on the account page.
The same use cases as the JSON API (`domain/passkeys.py`), behind the forms' CSRF checks (`PageHandlers`).

The browser's WebAuthn calls need a script (`web/static/passkeys.js`): it asks for the options, lets the browser
make or use the passkey, puts what the browser answered in the form's hidden `credential` field and submits the
form, which then posts like any other: a redirect when it worked, the page with its message when not. Without
the script, the passkey forms stay hidden and everything else works.
"""

from __future__ import annotations

import logging

import msgspec

from authgate.domain.auth import Principal
from authgate.errors import (
    FieldError,
    Forbidden,
    InvalidPasskey,
    PasskeyNotFound,
    PasskeysUnavailable,
    RateLimited,
    TooManyPasskeys,
    Unauthorized,
    ValidationFailed,
)
from authgate.http.handlers.auth import client_info
from authgate.http.handlers.pages import MAX_FIELD, PageHandlers, field_errors, page, signed_in_page
from authgate.http.operations import operation
from authgate.http.problems import status_of
from authgate.http.redirects import safe_next
from authgate.http.request import Request
from authgate.http.responses import Response, json_response
from authgate.http.schemas_passkeys import AuthenticationCredential, PasskeyOptions, RegistrationCredential

security = logging.getLogger("authgate.security")

MAX_CREDENTIAL = 48 * 1024
"""The hidden `credential` field: WebAuthn's JSON of the browser's answer (a few KB; attestations can be more)."""
_login_credential = msgspec.json.Decoder(AuthenticationCredential)
_registration_credential = msgspec.json.Decoder(RegistrationCredential)
NOT_SIGNED_IN = "Your passkey could not sign you in. Try again, or sign in with your password."


class PasskeyPages:
    def __init__(self, pages: PageHandlers) -> None:
        self.pages = pages

    @page("Sign in with a passkey")
    async def login(self, req: Request) -> Response:
        services = req.services
        await services.rate_limits.hit("login", ip=req.client_ip)
        form = await self.pages.pre_session_form(req)
        next_path = safe_next(form.get("next"))
        try:
            credential = _login_credential.decode(form.get("credential", "")[:MAX_CREDENTIAL])
        except (msgspec.ValidationError, msgspec.DecodeError):
            return self.pages.login_form(req, 422, message=NOT_SIGNED_IN, next_path=next_path)
        client = client_info(req, self.pages.cookies.device(req))
        try:
            signed = await services.browser.login_passkey(
                msgspec.to_builtins(credential), client, previous=self.pages.cookies.session(req)
            )
        except InvalidPasskey:
            security.info(
                "passkey login failed",
                extra={"event": "login_failure", "client_ip": req.client_ip, "request_id": req.request_id},
            )
            return self.pages.login_form(req, 401, message=NOT_SIGNED_IN, next_path=next_path)
        except (RateLimited, Forbidden) as exc:  # the limit, or an unverified email address
            headers = [("retry-after", str(exc.retry_after))] if isinstance(exc, RateLimited) else []
            return self.pages.login_form(req, status_of(exc), message=exc.detail, next_path=next_path, headers=headers)
        return self.pages.session_started(req, signed, next_path)

    @operation("The account page's passkey options (JSON, for its script)", tag="pages", api=False)
    async def options(self, req: Request) -> Response:
        """Not a page: the account page's script posts the add form here first, and gets the options for
        `navigator.credentials.create()`, or a problem (a wrong password: 422 on `passkey_password`)."""
        principal, form = await self.pages.signed_in(req)
        if principal is None:
            raise Unauthorized("You are signed out: reload the page")
        password = form.get("passkey_password", "")
        if not password or len(password) > MAX_FIELD:
            raise ValidationFailed([FieldError("passkey_password", "Enter your password")])
        passkeys = req.services.passkeys
        try:
            options = await passkeys.begin_registration(principal, password, client_info(req))
        except ValidationFailed as exc:  # as the page's forms show them: under the form's own field names
            shown = field_errors(exc, prefix="passkey_")
            raise ValidationFailed([FieldError(field, message) for field, message in shown.items()]) from None
        return json_response(PasskeyOptions(public_key=options, expires_in=passkeys.challenges.ttl))

    @signed_in_page("Add a passkey")
    async def add(self, req: Request, principal: Principal, form: dict[str, str]) -> Response:
        name = form.get("passkey_name", "")
        errors: dict[str, str] = {}
        if len(name) > 64:
            errors["passkey_name"] = "Must be at most 64 characters"
        try:
            credential = _registration_credential.decode(form.get("credential", "")[:MAX_CREDENTIAL])
        except (msgspec.ValidationError, msgspec.DecodeError):
            errors["passkey"] = "Your browser did not make a passkey: try again"
        if not errors:
            try:
                await req.services.passkeys.register(principal, msgspec.to_builtins(credential), name, client_info(req))
            except ValidationFailed as exc:
                named = field_errors(exc, prefix="passkey_")
                if "passkey_name" in named:
                    errors = {"passkey_name": named["passkey_name"]}
                else:
                    errors = {"passkey": "The passkey your browser made was not accepted: try again"}
            except (TooManyPasskeys, PasskeysUnavailable) as exc:
                errors = {"passkey": exc.title}
        if errors:
            return await self.pages.account_page(req, principal, 422, errors=errors)
        security.info("passkey added", extra={"event": "passkey_added", "user_id": principal.user.id})
        return self.pages.redirect("/account?notice=passkey_added#passkeys")

    @signed_in_page("Rename one of my passkeys")
    async def rename(self, req: Request, principal: Principal, form: dict[str, str]) -> Response:
        passkey_id, name = form.get("passkey_id", ""), form.get("passkey_rename", "")
        error = "Must be at most 64 characters" if len(name) > 64 else None
        if error is None:
            try:
                await req.services.passkeys.rename(principal.user.id, passkey_id, name)
            except PasskeyNotFound:
                return self.pages.redirect("/account?notice=passkey_gone#passkeys")
            except ValidationFailed as exc:
                error = field_errors(exc).get("name", exc.detail)
        if error is not None:
            errors = {"passkey_rename": error}
            return await self.pages.account_page(req, principal, 422, errors=errors, renaming=passkey_id)
        return self.pages.redirect("/account?notice=passkey_renamed#passkeys")

    @signed_in_page("Remove one of my passkeys")
    async def remove(self, req: Request, principal: Principal, form: dict[str, str]) -> Response:
        try:
            await req.services.passkeys.remove(principal.user.id, form.get("passkey_id", ""), client_info(req))
        except PasskeyNotFound:
            return self.pages.redirect("/account?notice=passkey_gone#passkeys")
        security.info("passkey removed", extra={"event": "passkey_removed", "user_id": principal.user.id})
        return self.pages.redirect("/account?notice=passkey_removed#passkeys")
