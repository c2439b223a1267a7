"""The query parameters and body of `GET /audit`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from authgate.domain.audit import AuditEvent, DetailValue


class AuditListQuery(msgspec.Struct, kw_only=True):
    """The query parameters of `GET /audit`."""

    user_id: Annotated[str, msgspec.Meta(max_length=64, description="Only the events about this user")] = ""
    event: Annotated[str, msgspec.Meta(max_length=64, description="Only this kind of event (e.g. login_failure)")] = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    cursor: Annotated[str, msgspec.Meta(max_length=512, description="`next_cursor` of the previous page")] = ""


class AuditEventResponse(msgspec.Struct, kw_only=True):
    id: str
    at: datetime
    event: str
    outcome: str
    user_id: str | None
    """Whom the event is about (null: a login name that matches no account)."""
    actor_id: str | None
    """Who did it, when not the user (an admin)."""
    ip: str
    user_agent: str
    detail: dict[str, DetailValue]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventResponse:
        return cls(
            id=event.id,
            at=event.at,
            event=event.event,
            outcome=event.outcome,
            user_id=event.user_id,
            actor_id=event.actor_id,
            ip=event.ip,
            user_agent=event.user_agent,
            detail=_details.decode(event.detail) if event.detail else {},
        )


_details = msgspec.json.Decoder(dict[str, DetailValue])


class AuditList(msgspec.Struct, kw_only=True):
    items: list[AuditEventResponse]
    """Newest first."""
    next_cursor: str | None
    """Pass it as `cursor` for the next (older) page; null on the last page."""
