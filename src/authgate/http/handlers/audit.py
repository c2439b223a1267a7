"""/audit: the security audit log, for admins (a Bearer access token with the `admin` role)."""

from __future__ import annotations

import msgspec

from authgate.errors import InvalidCursor, ValidationFailed
from authgate.http.bearer import require_role
from authgate.http.decoding import field_error
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import Response, json_response
from authgate.http.schemas_audit import AuditEventResponse, AuditList, AuditListQuery


def _query(req: Request) -> AuditListQuery:
    try:
        return msgspec.convert(req.query, AuditListQuery, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([field_error(str(exc))]) from None


@operation(
    "The audit log",
    description="Security events (register, login_success, login_failure, lockout, refresh_reuse, logout, "
    "logout_all, session_end, password_change, admin changes), newest first. Keyset pagination: follow "
    "`next_cursor` until it is null; a cursor is valid only with the filters it was made for.",
    tag="audit",
    auth="admin",
    query=AuditListQuery,
    response=AuditList,
    errors=(InvalidCursor,),
)
async def list_events(req: Request) -> Response:
    await require_role(req, "admin")
    query = _query(req)
    listing = await req.services.audit.list(
        user_id=query.user_id or None, event=query.event or None, limit=query.limit, cursor=query.cursor or None
    )
    return json_response(
        AuditList(items=[AuditEventResponse.of(e) for e in listing.events], next_cursor=listing.next_cursor)
    )
