"""/auth/verify-email, /auth/resend-verification, /auth/forgot-password, /auth/reset-password,
/auth/confirm-email-change, /auth/login/email: the JSON side of the email flows (`domain/email_flows.py`).

Every endpoint that sends mail first calls `limit_mail` (the `email` rate-limit policy, per client IP and per
account). A refused token is logged with its reason, never with the token.
"""

from __future__ import annotations

import logging

import msgspec

from authgate.domain.email_tokens import Purpose, RefusedToken
from authgate.domain.users import email_key, login_key
from authgate.errors import (
    EmailAlreadyVerified,
    EmailLoginDisabled,
    EmailTaken,
    FieldError,
    InvalidToken,
    MfaRequired,
    Overloaded,
    RateLimited,
    ValidationFailed,
)
from authgate.http.bearer import authenticate
from authgate.http.decoding import read_json
from authgate.http.handlers.auth import client_info, login_succeeded, token_response
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import JSON, Response, empty, static_json
from authgate.http.schemas import TokenResponse
from authgate.http.schemas_email import EmailAddressRequest, EmailTokenRequest, MailAccepted, ResetPasswordRequest

security = logging.getLogger("authgate.security")

_token = msgspec.json.Decoder(EmailTokenRequest)
_address = msgspec.json.Decoder(EmailAddressRequest)
_reset = msgspec.json.Decoder(ResetPasswordRequest)
_ACCEPTED = static_json(MailAccepted())


def accepted() -> Response:
    return Response(202, _ACCEPTED, [("content-type", JSON), ("cache-control", "no-store")])


async def limit_mail(req: Request, account: str) -> None:
    """The rate limit of every endpoint that sends mail: the `email` policy (AUTHGATE_RATE_LIMITS), per client
    IP and per account (`account`: the address or login as typed, or the signed-in user's email key; known or
    not, so that a 429 tells nothing about who has an account)."""
    await req.services.rate_limits.hit("email", ip=req.client_ip, account=login_key(account))


def _refused(req: Request, purpose: Purpose, exc: RefusedToken) -> None:
    security.info(
        "email token refused",
        extra={
            "event": "email_token_refused",
            "purpose": purpose,
            "reason": exc.reason,
            "client_ip": req.client_ip,
            "request_id": req.request_id,
        },
    )


@operation(
    "Verify my email address",
    description="With the token of the link mailed after registration. Single use.",
    tag="email",
    request=EmailTokenRequest,
    status=204,
    errors=(InvalidToken,),
)
async def verify_email(req: Request) -> Response:
    body = await read_json(req, _token)
    try:
        user = await req.services.email.verify_email(body.token, client_info(req))
    except RefusedToken as exc:
        _refused(req, "verify_email", exc)
        raise
    req.user_id = user.id
    security.info(
        "email verified", extra={"event": "email_verification", "user_id": user.id, "request_id": req.request_id}
    )
    return empty(204)


@operation(
    "Send the verification link again",
    description="Signed in (bearer): to my address (the body may be left out), or 409 when it is verified "
    'already. Anonymous, with `{"email"}`: always 202, and a mail only when an unverified account has that address.',
    tag="email",
    request=EmailAddressRequest,
    request_required=False,
    status=202,
    response=MailAccepted,
    errors=(EmailAlreadyVerified, RateLimited),
)
async def resend_verification(req: Request) -> Response:
    email = req.services.email
    if req.headers.get("authorization") is not None:
        principal = await authenticate(req)
        if _has_body(req):  # optional when signed in; if sent, it must be valid and name my own address
            body = await read_json(req, _address)
            if email_key(body.email.strip()) != principal.user.email_key:
                raise ValidationFailed([FieldError("email", "must be your own address, or left out")])
        if principal.user.email_verified:
            raise EmailAlreadyVerified()
        await limit_mail(req, principal.user.email_key)
        email.resend_verification(principal.user)
        return accepted()
    body = await read_json(req, _address)
    await limit_mail(req, body.email)
    email.resend_verification_to(body.email)
    return accepted()


def _has_body(req: Request) -> bool:
    length = req.headers.get("content-length")
    return req.headers.get("content-type") is not None or (length is not None and length != "0")


@operation(
    "Forgot my password",
    description="Always 202, in the same time, whether or not an account has this address; the reset link "
    "is mailed only when one does.",
    tag="email",
    request=EmailAddressRequest,
    status=202,
    response=MailAccepted,
    errors=(RateLimited,),
)
async def forgot_password(req: Request) -> Response:
    body = await read_json(req, _address)
    await limit_mail(req, body.email)
    req.services.email.forgot_password(body.email, client_info(req))
    return accepted()


@operation(
    "Reset my password",
    description="With the token of the mailed link and a new password (the registration policy applies; a 422 "
    "leaves the link usable). Ends every session of the account.",
    tag="email",
    request=ResetPasswordRequest,
    status=204,
    errors=(InvalidToken, Overloaded),
)
async def reset_password(req: Request) -> Response:
    body = await read_json(req, _reset)
    try:
        user = await req.services.email.reset_password(body.token, body.new_password, client_info(req))
    except RefusedToken as exc:
        _refused(req, "reset_password", exc)
        raise
    req.user_id = user.id
    security.info(
        "password reset; every session ended",
        extra={"event": "password_reset", "user_id": user.id, "request_id": req.request_id},
    )
    return empty(204)


@operation(
    "Confirm my new email address",
    description="With the token of the link mailed to the new address by `PATCH /auth/me`. The old address is told.",
    tag="email",
    request=EmailTokenRequest,
    status=204,
    errors=(InvalidToken, EmailTaken),
)
async def confirm_email_change(req: Request) -> Response:
    body = await read_json(req, _token)
    try:
        user = await req.services.email.confirm_email_change(body.token, client_info(req))
    except RefusedToken as exc:
        _refused(req, "change_email", exc)
        raise
    req.user_id = user.id
    security.info(
        "email address changed", extra={"event": "email_change", "user_id": user.id, "request_id": req.request_id}
    )
    return empty(204)


@operation(
    "Mail me a sign-in link",
    description="With AUTHGATE_EMAIL_LOGIN on. Answers 202 always, the same way and in the same time whether or not "
    "an account has the address; the link (for `POST /auth/login/email/verify`) is mailed only when one does.",
    tag="email",
    request=EmailAddressRequest,
    response=MailAccepted,
    status=202,
    errors=(EmailLoginDisabled, RateLimited),
)
async def send_login_link(req: Request) -> Response:
    if not req.services.settings.email_login:
        raise EmailLoginDisabled()
    body = await read_json(req, _address)
    await limit_mail(req, body.email)
    req.services.email.send_login_link(body.email, client_info(req))
    return accepted()


@operation(
    "Log in with a mailed link",
    description="With the token of the link. Single use. Starts the session; for an account with two-step login on, "
    "answers 403 `mfa_required` with an `mfa_token` for `/auth/login/mfa` instead.",
    tag="auth",
    request=EmailTokenRequest,
    response=TokenResponse,
    errors=(InvalidToken, EmailLoginDisabled, MfaRequired, RateLimited),
)
async def login_with_link(req: Request) -> Response:
    await req.services.rate_limits.hit("login", ip=req.client_ip)
    body = await read_json(req, _token)
    try:
        pair = await req.services.auth.login_email_link(body.token, client_info(req))
    except RefusedToken as exc:
        _refused(req, "login", exc)
        raise
    login_succeeded(req, pair)
    return token_response(pair)
