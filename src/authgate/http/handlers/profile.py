"""PATCH /auth/me: what users change on their own account (today: the email address, confirmed by mail)."""

from __future__ import annotations

import logging

import msgspec

from authgate.errors import EmailTaken, Overloaded, RateLimited
from authgate.http.bearer import authenticate
from authgate.http.decoding import read_json
from authgate.http.handlers.auth import client_info
from authgate.http.handlers.email import limit_mail
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import Response, json_response
from authgate.http.schemas_email import EmailChangePending
from authgate.http.schemas_users import UpdateMeRequest

security = logging.getLogger("authgate.security")

_update_me = msgspec.json.Decoder(UpdateMeRequest)


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
