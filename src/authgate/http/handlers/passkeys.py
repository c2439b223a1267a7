"""/auth/passkeys and /auth/login/passkey: adding, listing and removing passkeys, and logging in with one
(`domain/passkeys.py`); adding and logging in take two calls each, options for the browser's WebAuthn call, then
what it answered. An admin's view and removal are `/users/{user_id}/passkeys`."""

from __future__ import annotations

import logging

import msgspec

from authgate.errors import (
    EmailNotVerified,
    InvalidPasskey,
    Overloaded,
    PasskeyNotFound,
    PasskeysUnavailable,
    RateLimited,
    TooManyPasskeys,
    UserNotFound,
)
from authgate.http.bearer import authenticate, require_role
from authgate.http.decoding import read_json
from authgate.http.handlers.auth import client_info, login_succeeded, token_response
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import Response, empty, json_response
from authgate.http.schemas import TokenResponse
from authgate.http.schemas_passkeys import (
    PasskeyList,
    PasskeyLoginRequest,
    PasskeyOptions,
    PasskeyOptionsRequest,
    PasskeyRegistrationRequest,
    PasskeyRenameRequest,
    PasskeyResponse,
)

security = logging.getLogger("authgate.security")

_options = msgspec.json.Decoder(PasskeyOptionsRequest)
_registration = msgspec.json.Decoder(PasskeyRegistrationRequest)
_login = msgspec.json.Decoder(PasskeyLoginRequest)
_rename = msgspec.json.Decoder(PasskeyRenameRequest)


@operation(
    "Begin adding a passkey",
    description="Needs the password. Answers the options for `navigator.credentials.create()`; send what it "
    "answers to `POST /auth/passkeys` within `expires_in` seconds.",
    tag="account",
    auth="bearer",
    request=PasskeyOptionsRequest,
    response=PasskeyOptions,
    errors=(PasskeysUnavailable, TooManyPasskeys, RateLimited, Overloaded),
)
async def registration_options(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _options)
    passkeys = req.services.passkeys
    options = await passkeys.begin_registration(principal, body.password, client_info(req))
    return json_response(PasskeyOptions(public_key=options, expires_in=passkeys.challenges.ttl))


@operation(
    "Add a passkey",
    description="What `navigator.credentials.create()` answered to the options of "
    "`POST /auth/passkeys/registration-options`; the passkey signs this account in from now on.",
    tag="account",
    auth="bearer",
    request=PasskeyRegistrationRequest,
    response=PasskeyResponse,
    status=201,
    errors=(PasskeysUnavailable, TooManyPasskeys),
)
async def add(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _registration)
    credential = msgspec.to_builtins(body.credential)
    passkey = await req.services.passkeys.register(principal, credential, body.name, client_info(req))
    security.info(
        "passkey added",
        extra={"event": "passkey_added", "user_id": principal.user.id, "request_id": req.request_id},
    )
    return json_response(PasskeyResponse.of(passkey), 201)


@operation("My passkeys", tag="account", auth="bearer", response=PasskeyList)
async def list_passkeys(req: Request) -> Response:
    principal = await authenticate(req)
    passkeys = await req.services.passkeys.list(principal.user.id)
    return json_response(PasskeyList(items=[PasskeyResponse.of(p) for p in passkeys]))


@operation(
    "Rename a passkey",
    tag="account",
    auth="bearer",
    request=PasskeyRenameRequest,
    response=PasskeyResponse,
    errors=(PasskeyNotFound,),
)
async def rename(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _rename)
    passkey = await req.services.passkeys.rename(principal.user.id, req.params["passkey_id"], body.name)
    return json_response(PasskeyResponse.of(passkey))


@operation(
    "Remove a passkey",
    description="It no longer signs this account in (the authenticator still holds it: the user may delete it "
    "there too).",
    tag="account",
    auth="bearer",
    status=204,
    errors=(PasskeyNotFound,),
)
async def remove(req: Request) -> Response:
    principal = await authenticate(req)
    await req.services.passkeys.remove(principal.user.id, req.params["passkey_id"], client_info(req))
    security.info(
        "passkey removed",
        extra={"event": "passkey_removed", "user_id": principal.user.id, "request_id": req.request_id},
    )
    return empty(204)


@operation(
    "Begin a login with a passkey",
    description="Answers the options for `navigator.credentials.get()`, which name no account: the browser offers "
    "the passkeys it holds for this site. Send what it answers to `POST /auth/login/passkey`.",
    tag="auth",
    response=PasskeyOptions,
    errors=(PasskeysUnavailable,),
    uses_database=False,
)
async def login_options(req: Request) -> Response:
    passkeys = req.services.passkeys
    return json_response(PasskeyOptions(public_key=passkeys.begin_login(), expires_in=passkeys.challenges.ttl))


@operation(
    "Log in with a passkey",
    description="What `navigator.credentials.get()` answered to the options of `POST /auth/login/passkey/options`. "
    "Starts the session; no code of two-step login follows (the authenticator verified its user).",
    tag="auth",
    request=PasskeyLoginRequest,
    response=TokenResponse,
    errors=(InvalidPasskey, EmailNotVerified, PasskeysUnavailable, RateLimited),
)
async def login(req: Request) -> Response:
    await req.services.rate_limits.hit("login", ip=req.client_ip)
    body = await read_json(req, _login)
    try:
        pair = await req.services.auth.login_passkey(msgspec.to_builtins(body.credential), client_info(req))
    except InvalidPasskey:
        security.info(
            "passkey login failed",
            extra={"event": "login_failure", "client_ip": req.client_ip, "request_id": req.request_id},
        )
        raise
    login_succeeded(req, pair)
    return token_response(pair)


@operation(
    "List a user's passkeys",
    description="Oldest first: each one's name, when it was added and last used, whether it is synced.",
    tag="users",
    auth="admin",
    response=PasskeyList,
    errors=(UserNotFound,),
)
async def list_user_passkeys(req: Request) -> Response:
    await require_role(req, "admin")
    passkeys = await req.services.passkeys.list(req.params["user_id"])
    return json_response(PasskeyList(items=[PasskeyResponse.of(p) for p in passkeys]))


@operation(
    "Remove a user's passkey",
    description="For a lost or stolen device: the passkey no longer signs the user in. Audited with the admin, "
    "and mailed to the user.",
    tag="users",
    auth="admin",
    status=204,
    errors=(UserNotFound, PasskeyNotFound),
)
async def remove_user_passkey(req: Request) -> Response:
    admin = await require_role(req, "admin")
    target = req.params["user_id"]
    await req.services.passkeys.remove(target, req.params["passkey_id"], client_info(req), actor_id=admin.user.id)
    security.info(
        "passkey removed by an admin",
        extra={"event": "passkey_removed", "user_id": admin.user.id, "target_id": target, "request_id": req.request_id},
    )
    return empty(204)
