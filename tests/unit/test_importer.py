"""The import's rules (domain/importer.py) and the reading of its sources (importing/sources.py), without a database."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from authgate.domain.importer import (
    ImportRecord,
    ImportRules,
    ImportSummary,
    Rejection,
    check_batch,
    check_record,
    make_rules,
)
from authgate.domain.users import User
from authgate.errors import ValidationFailed
from authgate.importing.command import summary_lines
from authgate.importing.sources import (
    MAX_LINE_BYTES,
    SourceError,
    SqliteSource,
    TableMapping,
    decode_line,
    quote_identifier,
    quote_table,
    row_item,
)
from legacy_samples import MAKERS

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
BCRYPT = MAKERS["bcrypt-2b"]("secret password")
RULES = make_rules(("admin", "user"), default_roles=("user",))


def record(**fields: object) -> ImportRecord:
    values: dict[str, object] = {"username": "alice", "email": "alice@example.com", "password_hash": BCRYPT}
    values.update(fields)
    return ImportRecord(**values)  # type: ignore[arg-type]


def rejected(item: ImportRecord, rules: ImportRules = RULES) -> Rejection:
    outcome = check_record(item, rules, NOW)
    assert isinstance(outcome, Rejection), outcome
    return outcome


def test_a_valid_record_becomes_a_user_with_its_hash_unchanged() -> None:
    user = check_record(record(username="\uff41lice", email="Alice@EXAMPLE.com"), RULES, NOW)
    assert isinstance(user, User)
    assert user.username == "alice"  # NFKC, as at registration
    assert user.email == "Alice@example.com"  # email_validator lower-cases the domain only
    assert user.password_hash == BCRYPT
    assert user.roles == ("user",)
    assert user.created_at == user.updated_at == NOW
    assert not user.email_verified and not user.disabled


def test_roles_and_created_at_come_from_the_record_when_it_has_them() -> None:
    then = NOW - timedelta(days=400)
    user = check_record(record(roles=("admin", "user", "admin"), created_at=then), RULES, NOW)
    assert isinstance(user, User)
    assert user.roles == ("admin", "user")
    assert user.created_at == then and user.updated_at == NOW
    assert isinstance(check_record(record(roles=()), RULES, NOW), User)


@pytest.mark.parametrize(
    ("fields", "reason", "detail"),
    [
        ({"username": "李雷"}, "invalid_username", "username: must be 3 to 32 characters"),
        ({"username": "bad name"}, "invalid_username", "letters A-Z"),
        ({"username": "x" * 40}, "invalid_username", "3 to 32"),
        ({"email": "not-an-address"}, "invalid_email", "email:"),
        ({"email": None}, "missing_email", "email: is required"),
        ({"email": ""}, "missing_email", "email: is required"),
        ({"roles": ("root",)}, "invalid_roles", "unknown role(s): root"),
        ({"created_at": NOW + timedelta(days=1)}, "invalid_created_at", "not be in the future"),
        ({"created_at": datetime(2020, 1, 1)}, "invalid_created_at", "time zone"),  # noqa: DTZ001
        ({"password_hash": "md5$abc$def"}, "unknown_scheme", "no scheme"),
        ({"password_hash": "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="}, "unknown_scheme", "no scheme"),
        ({"password_hash": ""}, "malformed_hash", "empty"),
        ({"password_hash": "$2b$12$short"}, "malformed_hash", "bcrypt"),
        ({"password_hash": "pbkdf2:sha256:99999999$salt$" + "0" * 64}, "hash_out_of_bounds", "iterations"),
        ({"password_hash": "$2b$31$" + BCRYPT[7:]}, "hash_out_of_bounds", "cost"),
    ],
)
def test_a_record_that_breaks_a_rule_is_rejected_with_the_reason(
    fields: dict[str, object], reason: str, detail: str
) -> None:
    outcome = rejected(record(**fields))
    assert outcome.reason == reason
    assert detail in outcome.detail
    assert outcome.username == shown_name(fields.get("username", "alice"))


def shown_name(name: object) -> str:
    text = str(name)
    return text if len(text) <= 64 else text[:63] + "…"


def test_every_broken_rule_is_listed_and_the_first_gives_the_reason() -> None:
    outcome = rejected(record(username="a b", email="nope", roles=("root",), password_hash="md5$x"))
    assert outcome.reason == "invalid_username"
    for field in ("username:", "email:", "roles:", "password_hash:"):
        assert field in outcome.detail


def test_the_detail_never_repeats_the_hash() -> None:
    secret = "pbkdf2:sha256:99999999$saltsalt$" + "ab" * 32
    outcome = rejected(record(password_hash=secret))
    assert "saltsalt" not in outcome.detail and "abab" not in outcome.detail


def test_an_email_domain_gives_an_address_to_users_without_one() -> None:
    rules = make_rules(("user",), default_roles=("user",), email_domain="example.org")
    user = check_record(record(username="Bob.Smith", email=None), rules, NOW)
    assert isinstance(user, User) and user.email == "Bob.Smith@example.org"
    given = check_record(record(email="bob@elsewhere.net"), rules, NOW)
    assert isinstance(given, User) and given.email == "bob@elsewhere.net"


def test_the_rules_of_an_import_are_checked() -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_rules(("user",), default_roles=("admin",), email_domain="not a domain")
    assert [e.field for e in caught.value.errors] == ["roles", "email_domain"]


def test_a_batch_keeps_the_positions_and_passes_source_rejections_through() -> None:
    unreadable = Rejection("malformed_record", "the line is not a JSON object (UTF-8)")
    checked = check_batch(
        [(1, record()), (2, unreadable), (3, record(username="李雷")), (5, record(username="bob", email="b@x.org"))],
        RULES,
        NOW,
    )
    assert [u.username for u in checked.users] == ["alice", "bob"]
    assert checked.positions == [1, 5]
    assert [(o.position, o.reason) for o in checked.rejected] == [(2, "malformed_record"), (3, "invalid_username")]


# -- JSON Lines ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "detail", "username"),
    [
        (b"{not json", "not a JSON object", ""),
        (b"[1, 2]", "Expected `object`, got `array`", ""),
        (b'{"username": "carol", "email": "c@example.com"}', "missing required field `password_hash`", "carol"),
        (b'{"username": 7, "password_hash": "x"}', "Expected `str`, got `int` - at `$.username`", ""),
        (b'{"username": "dan", "password_hash": "x", "roles": "admin"}', "at `$.roles`", "dan"),
        (b'{"username": "eve", "password_hash": "x", "created_at": "yesterday"}', "at `$.created_at`", "eve"),
        (b"\xff\xfe", "not a JSON object", ""),
        (b'{"username": "' + b"x" * MAX_LINE_BYTES + b'"}', "longer than", ""),
    ],
)
def test_a_line_that_is_not_a_record_is_rejected(line: bytes, detail: str, username: str) -> None:
    outcome = decode_line(line)
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "malformed_record"
    assert detail in outcome.detail
    assert outcome.username == username


def test_a_line_may_carry_more_fields_than_authgate_uses() -> None:
    line = b'{"id": 9, "username": "f", "email": "f@x.org", "password_hash": "h", "roles": ["user"], "extra": {}}\n'
    assert decode_line(line) == ImportRecord(username="f", email="f@x.org", password_hash="h", roles=("user",))


# -- database tables -------------------------------------------------------------------------------------------


def test_table_and_column_names_are_quoted_as_identifiers() -> None:
    assert quote_identifier("user") == '"user"'
    assert quote_identifier('we"ird; DROP TABLE users; --') == '"we""ird; DROP TABLE users; --"'
    assert quote_table("legacy.user") == '"legacy"."user"'
    for bad in ("", "a\x00b"):
        with pytest.raises(SourceError):
            quote_identifier(bad)


def test_rows_become_records_or_rejections() -> None:
    assert row_item((1, "alice", BCRYPT)) == (1, ImportRecord(username="alice", password_hash=BCRYPT))
    assert row_item(("u-1", "bob", BCRYPT.encode(), "")) == ("u-1", ImportRecord(username="bob", password_hash=BCRYPT))
    for row, reason in [
        ((2, None, BCRYPT), "malformed_record"),
        ((3, "carol", None), "malformed_hash"),
        ((4, "dave", b"\xff"), "malformed_hash"),
        ((5, "erin", BCRYPT, 42), "invalid_email"),
    ]:
        position, outcome = row_item(row)
        assert position == row[0]
        assert isinstance(outcome, Rejection) and outcome.reason == reason


async def test_a_sqlite_table_with_odd_names_is_read_safely(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute('CREATE TABLE "we""ird table" ("Key" INTEGER PRIMARY KEY, "log in" TEXT, "pw; --" TEXT)')
        conn.executemany('INSERT INTO "we""ird table" VALUES (?, ?, ?)', [(2, "bob", "h2"), (1, "alice", "h1")])
        conn.commit()
    mapping = TableMapping(table='we"ird table', id_column="key", username_column="log in", password_column="pw; --")
    source = SqliteSource(f"sqlite:///{path}", mapping)
    try:
        assert not source.has_email
        assert await source.count() == 2
        chunks = [chunk async for chunk in source.chunks(1)]
    finally:
        await source.close()
    assert chunks == [
        [(1, ImportRecord(username="alice", password_hash="h1"))],
        [(2, ImportRecord(username="bob", password_hash="h2"))],
    ]
    with pytest.raises(SourceError, match="has no column 'email'; its columns: Key, log in, pw; --"):
        SqliteSource(f"sqlite:///{path}", msgspec.structs.replace(mapping, email_required=True))
    with pytest.raises(SourceError, match="no such table"):
        SqliteSource(f"sqlite:///{path}", TableMapping(table="users"))
    with pytest.raises(SourceError, match="no such file"):
        SqliteSource(f"sqlite:///{tmp_path}/missing.db", mapping)


def test_the_summary_counts_each_reason() -> None:
    summary = ImportSummary()
    summary.imported, summary.skipped, summary.valid = 1_000_000, 2, 1_000_002
    summary.rejected.update({"unknown_scheme": 3, "invalid_username": 1})
    lines = summary_lines(summary, 50.0, dry_run=False, report=Path("rejects.jsonl"))
    assert lines[0] == (
        "imported 1,000,000 users, skipped 2 (already there), rejected 4; "
        "1,000,006 records in 50.0 s (20,000 per second)"
    )
    assert lines[1:] == [
        "  unknown_scheme    3",
        "  invalid_username  1",
        "records not imported, and why: rejects.jsonl",
    ]


def test_an_imported_argon2id_hash_with_our_parameters_verifies_the_password_as_typed() -> None:
    """Other systems hash the password as typed; authgate hashes its NFKC form. A hash brought in with exactly
    authgate's parameters takes the fast path, which must still accept the typed form (and then rehash)."""
    import argon2

    from authgate.domain.passwords import HashParameters, PasswordHasher

    hasher = PasswordHasher(HashParameters(memory_kib=64, time_cost=1, parallelism=1))
    typed = "\ufb01ve \uff57\uff49\uff44\uff45 words"  # a ligature and fullwidth letters; NFKC: "five wide words"
    imported = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(typed)
    assert imported.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert hasher.verify(imported, typed) == (True, True)
    assert hasher.verify(imported, typed + "!") == (False, False)
    rehashed = hasher.hash(typed)
    assert hasher.verify(rehashed, typed) == (True, False)
    assert hasher.verify(rehashed, "five wide words") == (True, False)
