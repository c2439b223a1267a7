"""PATCH /auth/me: what users change on their own account (today: the email address)."""

from __future__ import annotations

import logging

import msgspec

from authgate.errors import EmailTaken, Overloaded
from authgate.http.bearer import authenticate
from authgate.http.decoding import read_json
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import Response, json_response
from authgate.http.schemas import UserResponse
from authgate.http.schemas_users import UpdateMeRequest

security = logging.getLogger("authgate.security")

_update_me = msgspec.json.Decoder(UpdateMeRequest)


@operation(
    "Change my email",
    description="Needs the current password. The new address is not verified (`email_verified` becomes false). "
    "Any other field is refused (422).",
    tag="account",
    auth="bearer",
    request=UpdateMeRequest,
    response=UserResponse,
    errors=(EmailTaken, Overloaded),
)
async def update_me(req: Request) -> Response:
    principal = await authenticate(req)
    body = await read_json(req, _update_me)
    user = await req.services.profile.change_email(principal, body.email, body.current_password)
    security.info(
        "email changed",
        extra={"event": "email_change", "user_id": user.id, "request_id": req.request_id},
    )
    return json_response(UserResponse.of(user))
