"""/auth/login/mfa and /auth/mfa/*: the second step of a login, and setting up two-step login
(`domain/mfa.py`); an admin's reset is `DELETE /users/{user_id}/mfa`."""

from __future__ import annotations

import logging

import msgspec

from authgate.errors import (
    InvalidMfaCode,
    InvalidMfaToken,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    Overloaded,
    RateLimited,
    UserNotFound,
)
from authgate.http.bearer import authenticate, require_role
from authgate.http.decoding import read_json
from authgate.http.handlers.auth import client_info, login_succeeded, token_response
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import Response, empty, json_response
from authgate.http.schemas import (
    MfaCodeRequest,
    MfaLoginRequest,
    MfaPasswordRequest,
    MfaProofRequest,
    MfaStatusResponse,
    RecoveryCodes,
    TokenResponse,
    TotpEnrollment,
)

security = logging.getLogger("authgate.security")

_login = msgspec.json.Decoder(MfaLoginRequest)
_password = msgspec.json.Decoder(MfaPasswordRequest)
_code = msgspec.json.Decoder(MfaCodeRequest)
_proof = msgspec.json.Decoder(MfaProofRequest)


def _event(req: Request, event: str, user_id: str, message: str) -> None:
    security.info(message, extra={"event": event, "user_id": user_id, "request_id": req.request_id})


@operation(
    "Log in: the second step",
    description="After a login answered 403 `mfa_required`: its `mfa_token` and a code from the authenticator app "
    "(or a recovery code). Starts the session.",
    tag="auth",
    request=MfaLoginRequest,
    response=TokenResponse,
    errors=(InvalidMfaToken, InvalidMfaCode, RateLimited),
)
async def login_mfa(req: Request) -> Response:
    await req.services.rate_limits.hit("mfa", ip=req.client_ip)
    body = await read_json(req, _login)
    try:
        pair = await req.services.auth.login_second_factor(body.mfa_token, body.code, client_info(req))
    except InvalidMfaCode:
        security.info(
            "second factor failed",
            extra={"event": "mfa_failure", "client_ip": req.client_ip, "request_id": req.request_id},
        )
        raise
    login_succeeded(req, pair)
    return token_response(pair)


@operation("My two-step login", tag="account", auth="bearer", response=MfaStatusResponse)
async def status(req: Request) -> Response:
    principal = await authenticate(req)
    return json_response(MfaStatusResponse.of(await req.services.mfa.status(principal)))


@operation(
    "Set up an authenticator app",
    description="Needs the password. Answers a new secret (replacing one never confirmed); two-step login is on "
    "once `/auth/mfa/totp/confirm` gets a first code.",
    tag="account",
    auth="bearer",
    request=MfaPasswordRequest,
    response=TotpEnrollment,
    status=201,
    errors=(MfaAlreadyEnabled, RateLimited, Overloaded),
)
async def enroll(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _password)
    enrollment = await req.services.mfa.enroll(principal, body.password, client_info(req))
    return json_response(TotpEnrollment(secret=enrollment.secret, otpauth_uri=enrollment.uri), 201)


@operation(
    "Turn two-step login on",
    description="With a first code from the app just set up; answers the recovery codes, shown this once.",
    tag="account",
    auth="bearer",
    request=MfaCodeRequest,
    response=RecoveryCodes,
    errors=(MfaNotEnabled, MfaAlreadyEnabled),
)
async def confirm(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _code)
    codes = await req.services.mfa.confirm(principal, body.code, client_info(req))
    _event(req, "mfa_enabled", principal.user.id, "two-step login turned on")
    return json_response(RecoveryCodes(recovery_codes=codes))


@operation(
    "Turn two-step login off",
    description="Needs the password and a code (or a recovery code).",
    tag="account",
    auth="bearer",
    request=MfaProofRequest,
    status=204,
    errors=(MfaNotEnabled, RateLimited, Overloaded),
)
async def disable(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _proof)
    await req.services.mfa.disable(principal, body.password, body.code, client_info(req))
    _event(req, "mfa_disabled", principal.user.id, "two-step login turned off")
    return empty(204)


@operation(
    "New recovery codes",
    description="Needs the password and a code (or a recovery code); the old recovery codes stop working.",
    tag="account",
    auth="bearer",
    request=MfaProofRequest,
    response=RecoveryCodes,
    errors=(MfaNotEnabled, RateLimited, Overloaded),
)
async def renew_recovery_codes(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _proof)
    codes = await req.services.mfa.renew_recovery_codes(principal, body.password, body.code, client_info(req))
    _event(req, "mfa_recovery_codes", principal.user.id, "recovery codes renewed")
    return json_response(RecoveryCodes(recovery_codes=codes))


@operation(
    "Reset a user's two-step login",
    description="For a user who lost both the authenticator and the recovery codes: their next login needs the "
    "password only.",
    tag="users",
    auth="admin",
    status=204,
    errors=(UserNotFound, MfaNotEnabled),
)
async def reset(req: Request) -> Response:
    admin = await require_role(req, "admin")
    target = req.params["user_id"]
    await req.services.mfa.reset(target, actor_id=admin.user.id, client=client_info(req))
    security.info(
        "two-step login reset by an admin",
        extra={"event": "mfa_disabled", "user_id": admin.user.id, "target_id": target, "request_id": req.request_id},
    )
    return empty(204)
