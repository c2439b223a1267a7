"""`authgate import-users`, through `authgate.cli.main`, into SQLite and PostgreSQL: every hash format users really
have, a report of every record not imported, re-runs that import nothing twice, and the users logging in."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate.app import App, create_app
from authgate.cli import main
from authgate.config import Settings, load_settings
from legacy_samples import MAKERS

PASSWORDS = {name: f"old {name} passphrase ﬁ {i}" for i, name in enumerate(MAKERS)}
"""One user per sample format, each with a password of its own (with a ligature that NFKC would change)."""


def make_settings(database_url: str) -> Settings:
    """The app's settings for the logins after an import (not conftest's: importing conftest by name is ambiguous
    when the whole suite runs, tests/client has one too)."""
    return load_settings(
        {}, database_url=database_url, access_log=False, password_hash_memory_kib=64, password_hash_time_cost=1
    )


def username(sample: str) -> str:
    return sample.replace("-", "_")


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def every_format(path: Path) -> Path:
    return write_lines(
        path,
        [
            {"username": username(s), "email": f"{username(s)}@example.com", "password_hash": MAKERS[s](p)}
            for s, p in PASSWORDS.items()
        ],
    )


def report(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def current_prefix(settings: Settings) -> str:
    return (
        f"$argon2id$v=19$m={settings.password_hash_memory_kib},t={settings.password_hash_time_cost},"
        f"p={settings.password_hash_parallelism}$"
    )


async def login(app: App, name: str, password: str, ip: str) -> int:
    """A login from its own address (the login rate limit per address is not what these tests are about)."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
        response = await client.post("/auth/login", json={"username": name, "password": password})
        return response.status_code


async def stored_hash(app: App, name: str) -> str:
    async with app.services.db.reader() as r:
        user = await r.users.get_by_login(name)
    assert user is not None, name
    return user.password_hash


def test_every_format_logs_in_with_the_old_password_and_becomes_argon2id(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = every_format(tmp_path / "users.jsonl")
    assert main(["import-users", str(source), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"imported {len(MAKERS)} users, skipped 0 (already there), rejected 0" in out

    async def logins() -> None:
        settings = make_settings(env)
        app = create_app(settings)
        await app.startup()
        try:
            for i, (sample, password) in enumerate(PASSWORDS.items()):
                name, ip = username(sample), f"198.51.100.{i + 1}"
                legacy = await stored_hash(app, name)
                assert legacy == MAKERS[sample](password) or not legacy.startswith("$argon2id$v=19$m=64,t=1,p=1$")
                assert await login(app, name, password + "x", ip) == 401, sample
                assert await stored_hash(app, name) == legacy, "a failed login leaves the hash alone"
                assert await login(app, name, password, ip) == 200, sample
                rehashed = await stored_hash(app, name)
                assert rehashed.startswith(current_prefix(settings)), (sample, rehashed[:30])
                assert await login(app, f"{name}@example.com", password, ip) == 200, sample
                assert await stored_hash(app, name) == rehashed
                assert await login(app, name, password + "x", ip) == 401, sample
        finally:
            await app.shutdown()

    asyncio.run(logins())


def test_bad_lines_are_reported_and_the_rest_import_once(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bcrypt = MAKERS["bcrypt-2b"]
    good = [{"username": f"user{i}", "email": f"user{i}@example.com", "password_hash": bcrypt("pw")} for i in range(3)]
    secret_hash = "pbkdf2:sha256:99999999$s3cr3tsalt$" + "ab" * 32
    lines: list[Any] = [
        good[0],
        "",  # blank lines are not records
        "{this is not json",
        {"username": "nohash", "email": "nohash@example.com"},
        {"username": "李雷", "email": "li@example.com", "password_hash": bcrypt("pw")},
        {"username": "md5user", "email": "md5@example.com", "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"},
        {"username": "costly", "email": "costly@example.com", "password_hash": secret_hash},
        {"username": "rooted", "email": "rooted@example.com", "password_hash": bcrypt("pw"), "roles": ["root"]},
        good[1],
        {**good[0], "email": "another@example.com"},  # the same username again
        {"username": "other", "email": "USER1@example.com", "password_hash": bcrypt("pw")},  # the same email again
        {"username": "admin2", "email": "admin2@example.com", "password_hash": bcrypt("pw"), "roles": ["admin"]},
        good[2],
    ]
    source = write_lines(tmp_path / "users.jsonl", lines)
    rejects = tmp_path / "rejects.jsonl"
    assert main(["import-users", str(source), "--rejects", str(rejects), "--batch-size", "4"]) == 3
    captured = capsys.readouterr()
    assert "imported 4 users, skipped 2 (already there), rejected 6; 12 records" in captured.out
    for reason in ("malformed_record  2", "invalid_username  1", "unknown_scheme    1", "hash_out_of_bounds  1"):
        assert " ".join(reason.split()) in " ".join(captured.out.split())
    expected = [
        (3, "", "rejected", "malformed_record"),
        (4, "nohash", "rejected", "malformed_record"),
        (5, "李雷", "rejected", "invalid_username"),
        (6, "md5user", "rejected", "unknown_scheme"),
        (7, "costly", "rejected", "hash_out_of_bounds"),
        (8, "rooted", "rejected", "invalid_roles"),
        (10, "user0", "skipped", "exists"),
        (11, "other", "skipped", "exists"),
    ]
    first = report(rejects)
    assert sorted((r["line"], r["username"], r["outcome"], r["reason"]) for r in first) == expected
    for text in (captured.out, captured.err, rejects.read_text()):
        assert "s3cr3tsalt" not in text and "$2b$" not in text, "a hash is never repeated"

    assert main(["import-users", str(source), "--rejects", str(rejects), "--no-progress"]) == 3
    assert "imported 0 users, skipped 6 (already there), rejected 6" in capsys.readouterr().out
    again = report(rejects)
    assert [r for r in again if r["outcome"] == "rejected"] == [r for r in first if r["outcome"] == "rejected"]

    async def check() -> None:
        app = create_app(make_settings(env))
        await app.startup()
        try:
            async with app.services.db.reader() as r:
                user0 = await r.users.get_by_login("user0")
                admin2 = await r.users.get_by_login("admin2")
            assert user0 is not None and user0.email == "user0@example.com", "the first of two records wins"
            assert admin2 is not None and admin2.roles == ("admin",)
            assert await login(app, "user2", "pw", "198.51.100.1") == 200
        finally:
            await app.shutdown()

    asyncio.run(check())


def test_an_existing_user_is_never_given_the_imported_password(
    env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("the real owner's passphrase\n"))
    assert main(["create-user", "alice", "--email", "alice@example.com", "--password-stdin"]) == 0
    known = MAKERS["werkzeug-pbkdf2"]("attacker knows this one")
    source = write_lines(
        tmp_path / "users.jsonl",
        [
            {"username": "ALICE", "email": "someone@example.com", "password_hash": known},
            {"username": "mallory", "email": "Alice@Example.com", "password_hash": known},
        ],
    )
    assert main(["import-users", str(source), "--no-progress"]) == 0
    assert "imported 0 users, skipped 2" in capsys.readouterr().out

    async def check() -> None:
        app = create_app(make_settings(env))
        await app.startup()
        try:
            assert await login(app, "alice", "attacker knows this one", "198.51.100.1") == 401
            assert await login(app, "mallory", "attacker knows this one", "198.51.100.2") == 401
            assert await login(app, "alice", "the real owner's passphrase", "198.51.100.3") == 200
        finally:
            await app.shutdown()

    asyncio.run(check())


def test_a_dry_run_checks_everything_and_writes_nothing(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", sqlite_url)
    source = write_lines(
        tmp_path / "users.jsonl",
        [
            {"username": "ok1", "email": "ok1@example.com", "password_hash": MAKERS["bcrypt-2b"]("pw")},
            {"username": "bad one", "email": "bad@example.com", "password_hash": MAKERS["bcrypt-2b"]("pw")},
        ],
    )
    rejects = tmp_path / "rejects.jsonl"
    assert main(["import-users", str(source), "--dry-run", "--rejects", str(rejects)]) == 3
    out = capsys.readouterr().out
    assert "dry run: 2 records checked" in out and "1 valid" in out and "1 rejected; nothing was written" in out
    assert [r["username"] for r in report(rejects)] == ["bad one"]
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


def seed_sqlite(path: Path, *, with_email: bool) -> None:
    with closing(sqlite3.connect(path)) as conn:
        email = ", email VARCHAR(120)" if with_email else ""
        conn.execute(f'CREATE TABLE "user" (id INTEGER PRIMARY KEY, username VARCHAR(80), password_hash TEXT{email})')
        rows = [(1, "alice", MAKERS["werkzeug-scrypt"]("alice's password")), (2, "bob", None), (3, None, "x")]
        if with_email:
            conn.executemany('INSERT INTO "user" VALUES (?, ?, ?, ?)', [(*row, None) for row in rows])
        else:
            conn.executemany('INSERT INTO "user" VALUES (?, ?, ?)', rows)
        conn.commit()


def test_a_table_without_emails_needs_an_email_domain(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = tmp_path / "seed.db"
    seed_sqlite(seed, with_email=False)
    assert main(["import-users", f"sqlite:///{seed}"]) == 1
    assert "has no 'email' column" in capsys.readouterr().err
    assert main(["import-users", f"sqlite:///{seed}", "--email-column", "mail"]) == 1
    assert "has no column 'mail'" in capsys.readouterr().err
    rejects = tmp_path / "rejects.jsonl"
    command = ["import-users", f"sqlite:///{seed}", "--email-domain", "example.org", "--rejects", str(rejects)]
    assert main(command) == 3
    assert "imported 1 users, skipped 0 (already there), rejected 2" in capsys.readouterr().out
    assert [(r["id"], r["username"], r["reason"]) for r in report(rejects)] == [
        (2, "bob", "malformed_hash"),
        (3, "", "malformed_record"),
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("sqlite:////nonexistent/seed.db", "no such file"),
        ("sqlite://relative.db", "use sqlite:///relative/path.db"),
        ("/nonexistent/users.jsonl", "cannot read /nonexistent/users.jsonl"),
        ("postgresql://nobody@127.0.0.1:1/none", "cannot connect to the source database"),
    ],
)
def test_a_source_that_cannot_be_read_is_an_error(
    env: str, source: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-users", source, "--email-domain", "example.org"]) == 1
    assert message in capsys.readouterr().err


def test_the_options_are_checked(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = every_format(tmp_path / "users.jsonl")
    assert main(["import-users", str(source), "--roles", "user,wizard"]) == 1
    assert "roles: unknown role(s): wizard" in capsys.readouterr().err
    assert main(["import-users", str(source), "--email-domain=not a domain"]) == 1
    assert "email_domain" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["import-users", str(source), "--batch-size", "0"])


@pytest.mark.postgres
def test_a_postgres_table_in_a_schema_is_a_source(
    sqlite_url: str,
    postgres_databases: Any,  # conftest.PostgresDatabases
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    legacy = postgres_databases.create()

    async def fill() -> None:
        import asyncpg

        conn = await asyncpg.connect(legacy)
        try:
            await conn.execute(
                'CREATE SCHEMA legacy; CREATE TABLE legacy."Accounts" ("ID" uuid PRIMARY KEY, "Login" text,'
                ' "Hash" text, "Mail" text)'
            )
            await conn.executemany(
                'INSERT INTO legacy."Accounts" VALUES ($1::uuid, $2, $3, $4)',
                [
                    ("00000000-0000-4000-8000-000000000001", "carol", MAKERS["django-pbkdf2-sha256"]("carol pw"), None),
                    ("00000000-0000-4000-8000-000000000002", "dave", MAKERS["bcrypt-2y"]("dave pw"), "d@example.com"),
                    ("00000000-0000-4000-8000-000000000003", "erin", "{SSHA}abc", "e@example.com"),
                ],
            )
        finally:
            await conn.close()

    asyncio.run(fill())
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("AUTHGATE_PASSWORD_HASH_MEMORY_KIB", "64")
    monkeypatch.setenv("AUTHGATE_PASSWORD_HASH_TIME_COST", "1")
    rejects = tmp_path / "rejects.jsonl"
    command = ["import-users", legacy, "--table", "legacy.Accounts", "--id-column", "ID", "--username-column"]
    command += ["Login", "--password-column", "Hash", "--email-column", "Mail", "--email-domain", "example.net"]
    assert main([*command, "--rejects", str(rejects)]) == 3
    assert "imported 2 users, skipped 0 (already there), rejected 1" in capsys.readouterr().out
    assert report(rejects)[0]["id"] == "00000000-0000-4000-8000-000000000003"
    assert main([*command, "--table", "legacy.accounts"]) == 1  # names are exact (quoted) in PostgreSQL
    assert 'relation "legacy.accounts" does not exist' in capsys.readouterr().err

    async def check() -> None:
        app = create_app(make_settings(sqlite_url))
        await app.startup()
        try:
            assert await login(app, "carol@example.net", "carol pw", "198.51.100.1") == 200
            assert await login(app, "d@example.com", "dave pw", "198.51.100.2") == 200
        finally:
            await app.shutdown()

    asyncio.run(check())


def test_a_report_that_cannot_be_written_is_an_error(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = every_format(tmp_path / "users.jsonl")
    assert main(["import-users", str(source), "--rejects", str(tmp_path / "no" / "such" / "dir.jsonl")]) == 1
    assert "No such file or directory" in capsys.readouterr().err
