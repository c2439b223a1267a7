"""Who is calling, from where (`ClientInfo`), and the audit event of what they did (`client_event`): what every
use case that audits takes from the HTTP side, without knowing HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import msgspec

from authgate.domain.audit import AuditEvent, DetailValue, Outcome, audit_event


class ClientInfo(msgspec.Struct, frozen=True):
    ip: str = ""
    user_agent: str = ""
    device_token: str | None = None
    """The known-device token the client presented at login, if any."""


NO_CLIENT = ClientInfo()
"""A use case called from no client (the command line, a test)."""


def by_whom(actor_id: str | None) -> dict[str, str]:
    """The `by` of an audit event's detail for a change made to someone else's account: an admin through the API
    (`actor_id`), or an operator on the command line (None)."""
    return {"by": "admin" if actor_id is not None else "operator"}


def client_event(
    name: str,
    client: ClientInfo,
    now: datetime,
    *,
    user_id: str | None,
    actor_id: str | None = None,
    outcome: Outcome = "success",
    detail: Mapping[str, DetailValue] | None = None,
) -> AuditEvent:
    """An audit event of something `client` did (or had done, by `actor_id`) to `user_id`'s account."""
    return audit_event(
        name,
        at=now,
        outcome=outcome,
        user_id=user_id,
        actor_id=actor_id,
        ip=client.ip,
        user_agent=client.user_agent,
        detail=detail,
    )
