"""Reading the audit log: `GET /audit`, newest first, keyset-paginated with signed cursors."""

from __future__ import annotations

import msgspec

from authgate.domain.audit import EVENTS, AuditEvent, AuditQuery
from authgate.domain.cursors import CursorCodec, Listing
from authgate.domain.ids import is_id
from authgate.errors import FieldError, ValidationFailed
from authgate.storage.base import Database


class AuditListing(msgspec.Struct, frozen=True):
    events: list[AuditEvent]
    next_cursor: str | None


class AuditLog:
    """Reads the audit log (writes go through `tx.audit` in each use case's own transaction)."""

    def __init__(self, db: Database, cursors: CursorCodec) -> None:
        self.db = db
        self.cursors = cursors

    async def list(
        self, *, user_id: str | None = None, event: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> AuditListing:
        errors: list[FieldError] = []
        if user_id is not None and not is_id(user_id):
            errors.append(FieldError("user_id", "is not a user id"))
        if event is not None and event not in EVENTS:
            errors.append(FieldError("event", f"must be one of {', '.join(sorted(EVENTS))}"))
        if errors:
            raise ValidationFailed(errors)
        # A cursor is good only for the filters it was made with.
        listing = Listing(name="audit", sort="-id", prefix=user_id or "", role=event or "")
        before = self.cursors.decode(cursor, listing)[1] if cursor else None
        async with self.db.replica() as r:
            page = await r.audit.page(AuditQuery(limit=limit, user_id=user_id, event=event, before=before))
        next_cursor = None
        if page.has_more and page.events:
            last = page.events[-1]
            next_cursor = self.cursors.encode(listing, (last.id, last.id))
        return AuditListing(page.events, next_cursor)
