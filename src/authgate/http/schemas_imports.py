"""The body and the answer of `POST /users/import`.

The schema holds the shape and the outer bounds only: a record that has the shape but breaks a rule of the
domain (a username authgate does not allow, an unknown role or hash format) is not an error of the request but
one of that record, reported in `rejected` while the others import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec

from authgate.domain.legacy_hashes import MAX_ENCODED_LENGTH
from authgate.domain.users import EMAIL_MAX

IMPORT_BATCH_MAX: Final = 1000
IMPORT_MAX_BODY_BYTES: Final = 2 * 1024 * 1024
"""A full batch of the longest valid records (hashes of up to 1,024 characters) fits."""

ImportedName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        description="The user's name in the old system; rejected (not changed) unless it is 3 to 32 of "
        "A-Z a-z 0-9 _ . - after NFKC normalisation",
        examples=["alice"],
    ),
]
ImportedEmail = Annotated[str, msgspec.Meta(min_length=1, max_length=EMAIL_MAX, examples=["alice@example.com"])]
LegacyHash = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_ENCODED_LENGTH,
        description="As the old system stored it: Werkzeug `pbkdf2:...`/`scrypt:...`, bcrypt `$2a$`/`$2b$`/`$2y$`, "
        "`$argon2id$`/`$argon2i$`, passlib `$pbkdf2-sha256$` or Django `pbkdf2_sha256$`. Replaced by argon2id at "
        "the user's first login. Never echoed back.",
        examples=["scrypt:32768:8:1$k4hB1yZgd3Ww3W2E$" + "0" * 128],
    ),
]
ImportRejectReason = Literal[
    "invalid_username",
    "invalid_email",
    "missing_email",
    "invalid_roles",
    "invalid_created_at",
    "unknown_scheme",
    "malformed_hash",
    "hash_out_of_bounds",
]
"""`authgate.domain.importer.RejectReason` but for `malformed_record`, which only a file or a table can have."""
ImportedRole = Annotated[str, msgspec.Meta(min_length=1, max_length=32, examples=["user"])]


class ImportUser(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    username: ImportedName
    email: ImportedEmail
    password_hash: LegacyHash
    roles: Annotated[list[ImportedRole], msgspec.Meta(max_length=32)] | msgspec.UnsetType = msgspec.UNSET
    """Configured roles (AUTHGATE_ROLES); default: the default roles (AUTHGATE_DEFAULT_ROLES)."""
    created_at: Annotated[datetime, msgspec.Meta(tz=True)] | msgspec.UnsetType = msgspec.UNSET
    """When the old system created the user (not in the future); default: now."""


class ImportUsersRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    users: Annotated[list[ImportUser], msgspec.Meta(min_length=1, max_length=IMPORT_BATCH_MAX)]


class ImportRejection(msgspec.Struct, kw_only=True):
    index: int
    """The record's position in `users`, from 0."""
    username: str
    """The record's username (shortened past 64 characters)."""
    reason: ImportRejectReason
    detail: str
    """Every rule the record breaks; never the hash."""


class ImportResult(msgspec.Struct, kw_only=True):
    imported: int
    skipped: int
    """Records whose username or email already exists: that user is left exactly as it is."""
    rejected: list[ImportRejection]
