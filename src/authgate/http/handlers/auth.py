"""/auth/*: register, log in, refresh, log out, and who am I."""

from __future__ import annotations

import logging

import msgspec

from authgate.domain.auth import TokenPair
from authgate.domain.clients import ClientInfo
from authgate.errors import (
    EmailNotVerified,
    EmailTaken,
    FieldError,
    InvalidCredentials,
    InvalidRefreshToken,
    MfaRequired,
    Overloaded,
    RateLimited,
    RefreshTokenReused,
    RegistrationClosed,
    SessionEnded,
    SessionNotFound,
    Unauthorized,
    UsernameTaken,
    ValidationFailed,
)
from authgate.http.bearer import authenticate
from authgate.http.decoding import read_form, read_json
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import JSON, Response, empty, json_response, static_json
from authgate.http.schemas import (
    ChangePasswordRequest,
    IntrospectionRequest,
    IntrospectionResponse,
    LoginRequest,
    LogoutAllRequest,
    LogoutAllResponse,
    RefreshRequest,
    RegisterRequest,
    RegistrationAccepted,
    SessionList,
    SessionResponse,
    TokenResponse,
    UserResponse,
)

security = logging.getLogger("authgate.security")

_register = msgspec.json.Decoder(RegisterRequest)
_login = msgspec.json.Decoder(LoginRequest)
_refresh = msgspec.json.Decoder(RefreshRequest)
_logout_all = msgspec.json.Decoder(LogoutAllRequest)
_change_password = msgspec.json.Decoder(ChangePasswordRequest)


_ACCEPTED = static_json(RegistrationAccepted())


def token_response(pair: TokenPair) -> Response:
    return json_response(
        TokenResponse(
            access_token=pair.access_token,
            expires_in=pair.expires_in,
            refresh_token=pair.refresh_token,
            device_token=pair.device_token or msgspec.UNSET,
        )
    )


def client_info(req: Request, device_token: str | None = None) -> ClientInfo:
    return ClientInfo(ip=req.client_ip, user_agent=req.headers.get("user-agent") or "", device_token=device_token)


def login_succeeded(req: Request, pair: TokenPair) -> None:
    req.user_id = pair.user_id
    security.info(
        "login succeeded",
        extra={
            "user_id": pair.user_id,
            "event": "login_success",
            "session_id": pair.session_id,
            "client_ip": req.client_ip,
            "request_id": req.request_id,
        },
    )


@operation(
    "Register",
    tag="auth",
    request=RegisterRequest,
    response=UserResponse,
    status=201,
    headers={"location": "The URL of the new user (admin API)"},
    other_responses={202: RegistrationAccepted},
    errors=(UsernameTaken, EmailTaken, RegistrationClosed, RateLimited, Overloaded),
    description="With AUTHGATE_HIDE_ACCOUNT_EXISTENCE=true: 202 `check_your_email` whether or not the email was "
    "already registered (its owner is told), never 409 `email_taken`.",
)
async def register(req: Request) -> Response:
    services = req.services
    await services.rate_limits.hit("register", ip=req.client_ip)
    body = await read_json(req, _register)
    client = client_info(req)
    hide = services.settings.hide_account_existence
    try:
        user = await services.auth.register(body.username, body.email, body.password, client=client)
    except EmailTaken:
        if not hide:
            raise
        # The same answer as a new account; the owner of the existing one is told (usernames are public
        # handles, so a taken username is still 409 username_taken: it reveals no email).
        await services.auth.existing_account(body.email, client)
        security.info(
            "registration with a registered email (not revealed)",
            extra={"event": "register_existing", "client_ip": req.client_ip, "request_id": req.request_id},
        )
        return Response(202, _ACCEPTED, [("content-type", JSON), ("cache-control", "no-store")])
    req.user_id = user.id
    security.info("user registered", extra={"event": "register", "user_id": user.id, "client_ip": req.client_ip})
    if hide:
        return Response(202, _ACCEPTED, [("content-type", JSON), ("cache-control", "no-store")])
    return json_response(UserResponse.of(user), 201, [("location", f"/users/{user.id}")])


@operation(
    "Log in",
    description="With a username or an email. Starts a session; for an account with two-step login on, answers 403 "
    "`mfa_required` with an `mfa_token` for `/auth/login/mfa` instead.",
    tag="auth",
    request=LoginRequest,
    response=TokenResponse,
    errors=(InvalidCredentials, EmailNotVerified, MfaRequired, RateLimited, Overloaded),
)
async def login(req: Request) -> Response:
    await req.services.rate_limits.hit("login", ip=req.client_ip)  # before the body is even read
    body = await read_json(req, _login)
    try:
        pair = await req.services.auth.login(body.username, body.password, client_info(req, body.device_token))
    except InvalidCredentials:
        security.info(
            "login failed",
            extra={"event": "login_failure", "client_ip": req.client_ip, "request_id": req.request_id},
        )
        raise
    login_succeeded(req, pair)
    return token_response(pair)


@operation(
    "Refresh the tokens",
    description="Single use: answers a new pair. Presenting a rotated refresh token again ends the session.",
    tag="auth",
    request=RefreshRequest,
    response=TokenResponse,
    errors=(InvalidRefreshToken, RefreshTokenReused, SessionEnded, RateLimited),
)
async def refresh(req: Request) -> Response:
    await req.services.rate_limits.hit("refresh", ip=req.client_ip)
    body = await read_json(req, _refresh)
    try:
        pair = await req.services.refresh.rotate(body.refresh_token, client_info(req))
    except RefreshTokenReused:
        security.warning(
            "refresh token reused; session ended",
            extra={"event": "refresh_reuse", "client_ip": req.client_ip, "request_id": req.request_id},
        )
        raise
    return token_response(pair)


@operation(
    "Log out", description="Ends this session; its tokens stop working at once.", tag="auth", auth="bearer", status=204
)
async def logout(req: Request) -> Response:
    principal = await authenticate(req)
    await req.services.auth.logout(principal, client_info(req))
    security.info(
        "logout",
        extra={
            "event": "logout",
            "user_id": principal.user.id,
            "session_id": principal.session.id,
            "request_id": req.request_id,
        },
    )
    return empty(204)


@operation("Who am I", tag="account", auth="bearer", response=UserResponse)
async def me(req: Request) -> Response:
    principal = await authenticate(req)
    return json_response(UserResponse.of(principal.user))


@operation("My active sessions", tag="account", auth="bearer", response=SessionList)
async def sessions(req: Request) -> Response:
    principal = await authenticate(req)
    items = await req.services.auth.sessions(principal)
    return json_response(SessionList([SessionResponse.of(s, principal.session.id) for s in items]))


@operation("End one of my sessions", tag="account", auth="bearer", status=204, errors=(SessionNotFound,))
async def end_session(req: Request) -> Response:
    principal = await authenticate(req)
    await req.services.auth.end_session(principal, req.params["session_id"], client_info(req))
    security.info(
        "session ended",
        extra={"event": "session_end", "user_id": principal.user.id, "request_id": req.request_id},
    )
    return empty(204)


@operation(
    "Log out everywhere",
    tag="account",
    auth="bearer",
    request=LogoutAllRequest,
    request_required=False,
    response=LogoutAllResponse,
)
async def logout_all(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _logout_all) if await _has_body(req) else LogoutAllRequest()
    ended = await req.services.auth.logout_all(principal, keep_current=body.keep_current, client=client_info(req))
    security.info(
        "logout everywhere",
        extra={"event": "logout_all", "user_id": principal.user.id, "ended": ended, "request_id": req.request_id},
    )
    return json_response(LogoutAllResponse(ended))


@operation(
    "Change my password",
    description="Needs the current password (behind the account's `password` limit and back-off); ends my other "
    "sessions.",
    tag="account",
    auth="bearer",
    request=ChangePasswordRequest,
    status=204,
    errors=(RateLimited, Overloaded),
)
async def change_password(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _change_password)
    await req.services.auth.change_password(principal, body.current_password, body.new_password, client_info(req))
    security.info(
        "password changed",
        extra={"event": "password_change", "user_id": principal.user.id, "request_id": req.request_id},
    )
    return empty(204)


async def _has_body(req: Request) -> bool:
    length = req.headers.get("content-length")
    return bool(req.headers.get("content-type")) or (length is not None and length != "0")


_INACTIVE = IntrospectionResponse(active=False)


@operation(
    "Introspect a token",
    description='RFC 7662: `{"active": false}` alone when the token is not (or no longer) valid.',
    tag="auth",
    form=IntrospectionRequest,
    response=IntrospectionResponse,
    errors=(ValidationFailed,),
)
async def introspect(req: Request) -> Response:
    """RFC 7662 token introspection, for services that must see a logout at once rather than at expiry.

    It tells only the holder of a token about that token, so it needs no client authentication."""
    form = await read_form(req)
    if "token" not in form:  # RFC 7662 2.1: required (an empty one is simply not active)
        raise ValidationFailed([FieldError("token", "is required")])
    token = form["token"]
    try:
        principal = await req.services.auth.authenticate(token)
    except Unauthorized:
        return json_response(_INACTIVE)
    c = principal.claims
    return json_response(
        IntrospectionResponse(
            active=True,
            sub=c.sub,
            sid=c.sid,
            username=principal.user.username,
            roles=list(principal.user.roles),
            exp=c.exp,
            iat=c.iat,
            nbf=c.nbf,
            iss=c.iss,
            aud=c.aud,
            jti=c.jti,
            amr=list(c.amr),
            token_type="access_token",  # noqa: S106 (a token type name, RFC 7662)
        )
    )
