"""PATCH /auth/me and DELETE /auth/me: what users change on their own account (the email address, confirmed by
mail), and deleting it."""

from __future__ import annotations

import logging

import msgspec

from authgate.errors import EmailTaken, LastAdmin, Overloaded, RateLimited
from authgate.http.bearer import authenticate
from authgate.http.decoding import read_json
from authgate.http.handlers.auth import client_info
from authgate.http.handlers.email import limit_mail
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import Response, empty, json_response
from authgate.http.schemas_email import EmailChangePending
from authgate.http.schemas_users import DeleteMeRequest, UpdateMeRequest

security = logging.getLogger("authgate.security")

_update_me = msgspec.json.Decoder(UpdateMeRequest)
_delete_me = msgspec.json.Decoder(DeleteMeRequest)


@operation(
    "Change my email",
    description="Needs the current password. Nothing changes yet: a link is mailed to the new address, and "
    "the change takes effect when it is followed (`POST /auth/confirm-email-change`); the old address is then "
    "told. Any other field is refused (422).",
    tag="account",
    auth="bearer",
    request=UpdateMeRequest,
    status=202,
    response=EmailChangePending,
    errors=(EmailTaken, RateLimited, Overloaded),
)
async def update_me(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _update_me)
    await limit_mail(req, principal.user.email_key)
    pending = await req.services.profile.change_email(principal, body.email, body.current_password, client_info(req))
    security.info(
        "email change requested; confirmation mailed to the new address",
        extra={"event": "email_change_request", "user_id": principal.user.id, "request_id": req.request_id},
    )
    return json_response(EmailChangePending(email=pending.email), 202)


@operation(
    "Delete my account",
    description="Needs the password, and a code (or a recovery code) when two-step login is on. The account, its "
    "sessions and its two-step login are gone at once; the address is told by mail, and the username and email "
    "are free again. The last admin cannot (409 last_admin).",
    tag="account",
    auth="bearer",
    request=DeleteMeRequest,
    status=204,
    errors=(LastAdmin, RateLimited, Overloaded),
)
async def delete_me(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _delete_me)
    code = "" if body.code is msgspec.UNSET else body.code
    await req.services.profile.delete_account(principal, body.password, code, client_info(req))
    security.info(
        "account deleted by its user",
        extra={"event": "account_delete", "user_id": principal.user.id, "request_id": req.request_id},
    )
    return empty(204)
