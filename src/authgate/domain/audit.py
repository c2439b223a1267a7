"""The audit log: security events (who, what, when, from where, with what outcome), kept in the database.

A use case writes its event through `tx.audit.add(audit_event(...))` in the same transaction as the change it
records (a login creates its session and its `login_success` together); an event with no change of its own
(a failed login) is one small insert, which the rate limits in front of it keep from becoming a flood.
`user_id` has no foreign key, so a deleted user's history stays. Admins read the log newest first with
`GET /audit`, keyset-paginated with signed cursors (`authgate.domain.audit_log`).

For other use cases (the admin API, the email flows):

    from authgate.domain.audit import audit_event
    async with db.transaction() as tx:
        ...  # the change
        await tx.audit.add(audit_event("admin_user_update", at=now, user_id=target.id, actor_id=admin.id,
                                       ip=client_ip, detail={"changed": "roles,disabled"}))
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import msgspec

Outcome = Literal["success", "failure"]

EVENTS = frozenset(
    {
        "register",
        "login_success",
        "login_failure",
        "lockout",
        "refresh_reuse",
        "logout",
        "logout_all",
        "session_end",
        "password_change",
        "account_delete",
        # two-step login
        "mfa_enabled",
        "mfa_disabled",
        "mfa_recovery_codes",
        "mfa_failure",
        # passkeys (a failed passkey login is a login_failure with detail method=passkey)
        "passkey_added",
        "passkey_removed",
        # a signed-in user's password asked again (domain/reauth.py)
        "reauth_failure",
        # the admin API
        "admin_user_create",
        "admin_user_update",
        "admin_user_delete",
        "admin_sessions_end",
        # the email flows
        "email_verification",
        "password_reset_request",
        "login_link_request",
        "password_reset",
        "email_change_request",
        "email_change",
    }
)
MAX_DETAIL_BYTES = 1024
MAX_USER_AGENT = 512

DetailValue = str | int | bool | None


class AuditEvent(msgspec.Struct, kw_only=True):
    id: str
    at: datetime
    event: str
    outcome: Outcome = "success"
    user_id: str | None = None
    """Whom the event is about (None: an unknown account)."""
    actor_id: str | None = None
    """Who did it, when not the user (an admin)."""
    ip: str = ""
    user_agent: str = ""
    detail: str = ""
    """A small JSON object, or empty."""


_detail = msgspec.json.Encoder()


class _MonotonicIds:
    """UUIDv7 whose 12 `rand_a` bits count up within a millisecond (RFC 9562 6.2, method 1): the events one
    process writes in the same millisecond keep their order when listed by id."""

    def __init__(self) -> None:
        self._ms = 0
        self._counter = 0

    def __call__(self) -> str:
        ms = time.time_ns() // 1_000_000
        if ms <= self._ms:
            ms = self._ms
            self._counter += 1
            if self._counter > 0xFFF:  # 4096 events in one millisecond: borrow the next one
                ms = self._ms = ms + 1
                self._counter = 0
        else:
            self._ms = ms
            self._counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # room to count up
        rand_b = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
        value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | self._counter << 64 | 0b10 << 62 | rand_b
        return str(uuid.UUID(int=value))


_event_id = _MonotonicIds()


def audit_event(
    event: str,
    *,
    at: datetime,
    outcome: Outcome = "success",
    user_id: str | None = None,
    actor_id: str | None = None,
    ip: str = "",
    user_agent: str = "",
    detail: Mapping[str, DetailValue] | None = None,
) -> AuditEvent:
    """A new event (its id is a fresh UUIDv7, so ids order events by time). `event` must be one of EVENTS."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}; add it to authgate.domain.audit.EVENTS")
    encoded = _detail.encode(dict(detail)).decode() if detail else ""
    if len(encoded) > MAX_DETAIL_BYTES:
        encoded = _detail.encode({"truncated": True}).decode()
    return AuditEvent(
        id=_event_id(),
        at=at,
        event=event,
        outcome=outcome,
        user_id=user_id,
        actor_id=actor_id,
        ip=ip,
        user_agent=user_agent[:MAX_USER_AGENT],
        detail=encoded,
    )


class AuditQuery(msgspec.Struct, frozen=True, kw_only=True):
    limit: int = 50
    user_id: str | None = None
    event: str | None = None
    before: str | None = None
    """Keyset position: the id of the last event seen (pages go from newest to oldest)."""


class AuditPage(msgspec.Struct, frozen=True):
    events: list[AuditEvent]
    has_more: bool


def first_id_at(at: datetime) -> str:
    """The smallest UUIDv7 of the millisecond `at`: every event id made before `at` sorts below it."""
    ms = int(at.timestamp() * 1000) & 0xFFFF_FFFF_FFFF
    value = ms << 80 | 0x7 << 76 | 0b10 << 62
    return str(uuid.UUID(int=value))
