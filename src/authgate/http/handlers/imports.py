"""POST /users/import: admins bring users in from another system, with their password hashes, in batches."""

from __future__ import annotations

import logging
from typing import cast

import msgspec

from authgate.domain.importer import ImportRecord, Item
from authgate.http.bearer import require_role
from authgate.http.decoding import read_json
from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import Response, json_response
from authgate.http.schemas_imports import (
    IMPORT_BATCH_MAX,
    IMPORT_MAX_BODY_BYTES,
    ImportRejection,
    ImportRejectReason,
    ImportResult,
    ImportUsersRequest,
)

security = logging.getLogger("authgate.security")

_request = msgspec.json.Decoder(ImportUsersRequest)


@operation(
    "Import users",
    description=f"Up to {IMPORT_BATCH_MAX} users per request, each with the password hash of the system they "
    "come from; they log in with their old passwords, and each hash is replaced by argon2id at that first "
    "login. A user whose username or email already exists is skipped and left exactly as it is (an import "
    "never sets the password of an existing user), so sending a batch again imports nothing twice. A record "
    "that breaks a rule is listed in `rejected` with the reason, and the others still import. The batch is one "
    f"transaction. The body may be up to {IMPORT_MAX_BODY_BYTES // (1024 * 1024)} MiB. For a whole database, "
    "use the `authgate import-users` command.",
    tag="users",
    auth="admin",
    request=ImportUsersRequest,
    response=ImportResult,
)
async def import_users(req: Request) -> Response:
    admin = await require_role(req, "admin")
    body = await read_json(req, _request, max_bytes=IMPORT_MAX_BODY_BYTES)
    importer = req.services.importer
    items: list[Item] = [
        (
            index,
            ImportRecord(
                username=user.username,
                email=user.email,
                password_hash=user.password_hash,
                roles=None if user.roles is msgspec.UNSET else tuple(user.roles),
                created_at=None if user.created_at is msgspec.UNSET else user.created_at,
            ),
        )
        for index, user in enumerate(body.users)
    ]
    result = await importer.import_batch(items, importer.default_rules)
    rejected = [
        ImportRejection(
            index=int(o.position), username=o.username, reason=cast(ImportRejectReason, o.reason), detail=o.detail
        )
        for o in result.outcomes
        if o.status == "rejected"
    ]
    skipped = len(result.outcomes) - len(rejected)
    security.info(
        "users imported by an admin",
        extra={
            "event": "users_import",
            "user_id": admin.user.id,
            "imported": result.imported,
            "skipped": skipped,
            "rejected": len(rejected),
            "request_id": req.request_id,
        },
    )
    return json_response(ImportResult(imported=result.imported, skipped=skipped, rejected=rejected))
