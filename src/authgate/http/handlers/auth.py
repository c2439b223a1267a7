"""/auth/*: register, log in, refresh, log out, and who am I."""

from __future__ import annotations

import logging

import msgspec

from authgate.domain.auth import ClientInfo, TokenPair
from authgate.errors import InvalidCredentials, RefreshTokenReused
from authgate.http.bearer import authenticate
from authgate.http.decoding import read_json
from authgate.http.request import Request
from authgate.http.responses import Response, empty, json_response
from authgate.http.schemas import LoginRequest, RefreshRequest, RegisterRequest, TokenResponse, UserResponse

security = logging.getLogger("authgate.security")

_register = msgspec.json.Decoder(RegisterRequest)
_login = msgspec.json.Decoder(LoginRequest)
_refresh = msgspec.json.Decoder(RefreshRequest)


def _tokens(pair: TokenPair) -> Response:
    return json_response(
        TokenResponse(access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token)
    )


def client_info(req: Request) -> ClientInfo:
    return ClientInfo(ip=req.client_ip, user_agent=req.headers.get("user-agent") or "")


async def register(req: Request) -> Response:
    body = await read_json(req, _register)
    user = await req.services.auth.register(body.username, body.email, body.password)
    req.user_id = user.id
    security.info("user registered", extra={"event": "register", "user_id": user.id, "client_ip": req.client_ip})
    return json_response(UserResponse.of(user), 201, [("location", f"/users/{user.id}")])


async def login(req: Request) -> Response:
    body = await read_json(req, _login)
    try:
        pair = await req.services.auth.login(body.username, body.password, client_info(req))
    except InvalidCredentials:
        security.info(
            "login failed",
            extra={"event": "login_failure", "client_ip": req.client_ip, "request_id": req.request_id},
        )
        raise
    security.info(
        "login succeeded",
        extra={
            "event": "login_success",
            "session_id": pair.session_id,
            "client_ip": req.client_ip,
            "request_id": req.request_id,
        },
    )
    return _tokens(pair)


async def refresh(req: Request) -> Response:
    body = await read_json(req, _refresh)
    try:
        pair = await req.services.auth.refresh(body.refresh_token)
    except RefreshTokenReused:
        security.warning(
            "refresh token reused; session ended",
            extra={"event": "refresh_reuse", "client_ip": req.client_ip, "request_id": req.request_id},
        )
        raise
    return _tokens(pair)


async def logout(req: Request) -> Response:
    principal = await authenticate(req)
    await req.services.auth.logout(principal)
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


async def me(req: Request) -> Response:
    principal = await authenticate(req)
    return json_response(UserResponse.of(principal.user))
