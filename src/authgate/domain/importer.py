"""Bringing users in from another system with the password hashes they already have (`authgate import-users`,
`POST /users/import`).

Each record is checked by the same rules as a registration (username, email, roles) and its hash by
`legacy_hashes.identify`, which is cheap parsing only and refuses cost parameters that would stall a worker at
login. Nothing is hashed here: the legacy hash is stored as it is, and the user's first successful login
replaces it with argon2id (`AuthService.login`).

Every record ends in one outcome:

    imported   a new user now exists
    skipped    a user with that username or email already exists (reason `exists`); it is left as it is, so a
               re-run imports nothing twice and an import can never set a known password on an existing user
    rejected   the record breaks a rule (reason: one of `REJECT_REASONS`, with a detail that never repeats the
               hash); the other records still import

A batch is written in one transaction; the store inserts what is new and skips what is taken, race-safe.

Usernames are stored in NFKC form, as at registration (logins compare NFKC case-folded keys, so a user who
types the old form still gets in); a name that breaks the rules after NFKC is rejected, never rewritten.
A record without an email is rejected (`missing_email`) unless the import names an email domain, in which case
the address becomes `username@domain` (unverified, like every imported address).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal, get_args

import msgspec

from authgate.domain import legacy_hashes
from authgate.domain.clock import EPOCH as _EPOCH
from authgate.domain.clock import Clock
from authgate.domain.ids import new_id
from authgate.domain.users import User, check_email, check_roles, check_username
from authgate.errors import FieldError, ValidationFailed
from authgate.storage.base import Database

RejectReason = Literal[
    "malformed_record",
    "invalid_username",
    "invalid_email",
    "missing_email",
    "invalid_roles",
    "invalid_created_at",
    "unknown_scheme",
    "malformed_hash",
    "hash_out_of_bounds",
]
REJECT_REASONS: Final[tuple[str, ...]] = get_args(RejectReason)
EXISTS: Final = "exists"
SHOWN_USERNAME_MAX: Final = 64
"""Reports show at most this much of a username (a hostile source may hold anything there)."""

Position = int | str
"""Where a record came from: a line number, a source row id, or an index in a request."""

_HASH_REASONS: Final[dict[legacy_hashes.Problem, RejectReason]] = {
    "unknown_scheme": "unknown_scheme",
    "malformed": "malformed_hash",
    "out_of_bounds": "hash_out_of_bounds",
}
_EXISTS_DETAIL = "a user with this username or email already exists; it is left as it is"


class ImportRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A user as another system knew them. Also the shape of one line of a JSON Lines import file."""

    username: str
    email: str | None = None
    password_hash: str
    roles: tuple[str, ...] | None = None
    """None: the import's default roles."""
    created_at: datetime | None = None
    """None: the time of the import. With a time zone, not in the future."""


class Rejection(msgspec.Struct, frozen=True):
    reason: RejectReason
    detail: str
    username: str = ""
    """What the source gave as the username, shortened; "" when it gave none."""


class Outcome(msgspec.Struct, frozen=True):
    """What became of one record that was not imported."""

    position: Position
    username: str
    status: Literal["skipped", "rejected"]
    reason: str
    detail: str


Item = tuple[Position, ImportRecord | Rejection]
"""A record and where it came from, as a source yields it."""


class BatchResult(msgspec.Struct, frozen=True):
    imported: int
    valid: int
    """Records that passed every rule: imported, or skipped because they exist."""
    outcomes: list[Outcome]
    """The records that were not imported: the rejected in the order of the batch, then the skipped."""


class ImportSummary:
    """Totals over a whole import."""

    __slots__ = ("imported", "rejected", "skipped", "valid")

    def __init__(self) -> None:
        self.imported = 0
        self.skipped = 0
        self.valid = 0
        self.rejected: Counter[str] = Counter()

    def add(self, batch: BatchResult) -> None:
        self.imported += batch.imported
        self.valid += batch.valid
        for outcome in batch.outcomes:
            if outcome.status == "skipped":
                self.skipped += 1
            else:
                self.rejected[outcome.reason] += 1

    @property
    def total(self) -> int:
        return self.valid + sum(self.rejected.values())


class ImportRules(msgspec.Struct, frozen=True, kw_only=True):
    """How records become users, for one import (made by `make_rules`, which checks them)."""

    allowed_roles: frozenset[str]
    default_roles: tuple[str, ...]
    email_domain: str | None = None


def shown(username: str) -> str:
    return username if len(username) <= SHOWN_USERNAME_MAX else username[: SHOWN_USERNAME_MAX - 1] + "…"


def check_record(record: ImportRecord, rules: ImportRules, now: datetime) -> User | Rejection:
    """The user `record` becomes, or why it cannot (the first failing rule's reason; every rule's message)."""
    errors: list[FieldError] = []
    reasons: list[RejectReason] = []

    def fail(reason: RejectReason, field_errors: Sequence[FieldError]) -> None:
        reasons.append(reason)
        errors.extend(field_errors)

    username = check_username(record.username, errors)
    if errors:
        reasons.append("invalid_username")
    email = ""
    if record.email:
        field_errors: list[FieldError] = []
        email = check_email(record.email, field_errors)
        if field_errors:
            fail("invalid_email", field_errors)
    elif rules.email_domain is None:
        fail("missing_email", [FieldError("email", "is required (or import with an email domain)")])
    elif username:
        field_errors = []
        email = check_email(f"{username}@{rules.email_domain}", field_errors)
        if field_errors:
            fail("invalid_email", field_errors)
    roles = rules.default_roles
    if record.roles is not None:
        field_errors = []
        roles = check_roles(record.roles, rules.allowed_roles, field_errors)
        if field_errors:
            fail("invalid_roles", field_errors)
    created = now
    if record.created_at is not None:
        created = record.created_at
        if created.tzinfo is None or not _EPOCH <= created <= now:
            fail("invalid_created_at", [FieldError("created_at", "must have a time zone and not be in the future")])
    try:
        legacy_hashes.identify(record.password_hash)
    except legacy_hashes.UnsupportedHash as exc:
        fail(_HASH_REASONS[exc.problem], [FieldError("password_hash", str(exc))])
    if errors:
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        return Rejection(reasons[0], detail, shown(record.username))
    return User(
        id=new_id(),
        username=username,
        email=email,
        password_hash=record.password_hash,
        roles=roles,
        created_at=created,
        updated_at=now,
    )


def make_rules(
    allowed_roles: Sequence[str], *, default_roles: Sequence[str], email_domain: str | None = None
) -> ImportRules:
    """The rules of one import; ValidationFailed when a default role is not configured or the domain is bad."""
    errors: list[FieldError] = []
    roles = check_roles(default_roles, allowed_roles, errors)
    if email_domain is not None:
        probe: list[FieldError] = []
        check_email(f"user@{email_domain}", probe)
        if probe:
            errors.append(FieldError("email_domain", f"{email_domain!r} is not a domain an address can have"))
    if errors:
        raise ValidationFailed(errors)
    return ImportRules(allowed_roles=frozenset(allowed_roles), default_roles=roles, email_domain=email_domain)


class CheckedBatch(msgspec.Struct, frozen=True):
    users: list[User]
    positions: list[Position]
    """The position of each of `users`."""
    rejected: list[Outcome]


def check_batch(items: Sequence[Item], rules: ImportRules, now: datetime) -> CheckedBatch:
    """Every record checked; a source passes a `Rejection` for a record it could not read."""
    users: list[User] = []
    positions: list[Position] = []
    rejected: list[Outcome] = []
    for position, item in items:
        checked = check_record(item, rules, now) if isinstance(item, ImportRecord) else item
        if isinstance(checked, Rejection):
            rejected.append(Outcome(position, checked.username, "rejected", checked.reason, checked.detail))
        else:
            users.append(checked)
            positions.append(position)
    return CheckedBatch(users, positions, rejected)


class UserImporter:
    """Writes checked batches: one transaction each, new users in, taken usernames and emails skipped."""

    def __init__(self, db: Database, clock: Clock, *, roles: Sequence[str], default_roles: Sequence[str]) -> None:
        self.db = db
        self.clock = clock
        self.roles = tuple(roles)
        self.default_rules = make_rules(self.roles, default_roles=default_roles)
        """The configured roles and default roles, no email domain (the HTTP import's rules)."""

    def rules(self, *, default_roles: Sequence[str], email_domain: str | None = None) -> ImportRules:
        return make_rules(self.roles, default_roles=default_roles, email_domain=email_domain)

    async def import_batch(self, items: Sequence[Item], rules: ImportRules) -> BatchResult:
        return await self.write(check_batch(items, rules, self.clock()))

    async def write(self, checked: CheckedBatch) -> BatchResult:
        """Insert the checked users in one transaction, skipping those whose username or email exists.
        (Checking is separate so that a long import can check the next batch while this one is written.)"""
        outcomes = list(checked.rejected)
        imported = 0
        if checked.users:
            async with self.db.transaction() as tx:
                inserted = set(await tx.users.add_many(checked.users))
            imported = len(inserted)
            for user, position in zip(checked.users, checked.positions, strict=True):
                if user.id not in inserted:
                    outcomes.append(Outcome(position, shown(user.username), "skipped", EXISTS, _EXISTS_DETAIL))
        return BatchResult(imported, len(checked.users), outcomes)
