"""`authgate users ...`, through `authgate.cli.main`, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from authgate.cli import main
from authgate.domain.sessions import RefreshToken, Session, hash_refresh_token, new_refresh_token
from authgate.domain.totp import TotpFactor
from authgate.domain.users import User
from authgate.storage import open_database
from authgate.storage.base import Stores
from mailserver import RESET, mail_server

T = TypeVar("T")

PASSWORD = "cli-test-passphrase-1"


def create(monkeypatch: pytest.MonkeyPatch, name: str, *flags: str) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["create-user", name, "--email", f"{name}@example.com", "--password-stdin", *flags]) == 0


def on_root(url: str, use: Callable[[Stores, User], Awaitable[T]]) -> T:
    """`use(stores, root)` in a transaction of the database at `url`, beside the CLI."""

    async def run() -> T:
        db = open_database(url)
        await db.connect()
        try:
            async with db.transaction() as tx:
                root = await tx.users.get_by_login("root")
                assert root is not None
                return await use(tx, root)
        finally:
            await db.close()

    return asyncio.run(run())


async def add_session(tx: Stores, user: User, now: datetime, session_id: str, user_agent: str) -> Session:
    """A session of a day, as a login from 192.0.2.7 would start."""
    session = Session(
        id=session_id,
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=1),
        user_agent=user_agent,
        ip="192.0.2.7",
    )
    token = RefreshToken(
        token_hash=hash_refresh_token(new_refresh_token()),
        session_id=session.id,
        created_at=now,
        expires_at=session.expires_at,
    )
    await tx.sessions.add(session, token)
    return session


def test_list_grant_revoke_disable_enable_delete(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create(monkeypatch, "root", "--admin")
    for name in ["alice", "bob", "carol"]:
        create(monkeypatch, name)
    capsys.readouterr()

    assert main(["users", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["USERNAME", "EMAIL", "ROLES", "DISABLED", "PASSWORD", "2-STEP", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == ["root", "alice", "bob", "carol"]
    assert lines[1].split()[2:6] == ["admin,user", "no", "yes", "off"]

    assert main(["users", "list", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "more: authgate users list --cursor " in out and " --limit 2" in out
    cursor = out.split("--cursor ", 1)[1].split()[0]
    assert main(["users", "list", "--limit", "2", "--cursor", cursor]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["bob", "carol"]

    assert main(["users", "list", "--q", "AL"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["alice"]

    assert main(["users", "grant", "alice", "admin"]) == 0
    assert "alice: roles user,admin; enabled" in capsys.readouterr().out
    assert main(["users", "list", "--role", "admin", "--sort", "username"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["alice", "root"]
    assert main(["users", "revoke", "alice@example.com", "admin"]) == 0
    assert "alice: roles user; enabled" in capsys.readouterr().out

    assert main(["users", "disable", "bob"]) == 0
    assert "bob: roles user; disabled" in capsys.readouterr().out
    assert main(["users", "enable", "bob"]) == 0
    assert "enabled" in capsys.readouterr().out

    assert main(["users", "delete", "carol", "--yes"]) == 0
    assert main(["users", "disable", "carol"]) == 1
    assert "user_not_found" in capsys.readouterr().err


def test_the_last_admin_and_bad_input(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create(monkeypatch, "root", "--admin")
    capsys.readouterr()
    assert main(["users", "revoke", "root", "admin"]) == 1
    assert "last_admin" in capsys.readouterr().err
    assert main(["users", "disable", "root"]) == 1
    assert main(["users", "delete", "root", "--yes"]) == 1
    assert main(["users", "grant", "root", "wizard"]) == 1
    assert "roles: unknown role(s): wizard" in capsys.readouterr().err
    assert main(["users", "list", "--limit", "0"]) == 1
    assert "limit: must be 1 to 200" in capsys.readouterr().err
    assert main(["users", "list", "--cursor", "forged"]) == 1
    assert "invalid_cursor" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(""))
    assert main(["users", "delete", "root"]) == 1  # no --yes and no terminal: nothing happens
    assert main(["users", "list"]) == 0
    assert "root" in capsys.readouterr().out


def test_reset_mfa(env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The way back in when the only admin lost their phone and their recovery codes."""
    create(monkeypatch, "root", "--admin")
    now = datetime.now(UTC)

    async def put(tx: Stores, root: User) -> None:
        await tx.mfa.put(TotpFactor(user_id=root.id, secret=b"S" * 32, created_at=now, confirmed_at=now))

    async def factor(tx: Stores, root: User) -> TotpFactor | None:
        return await tx.mfa.get(root.id)

    on_root(env, put)
    assert on_root(env, factor) is not None
    capsys.readouterr()
    assert main(["users", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[5] == "on"  # the 2-STEP column
    assert main(["users", "reset-mfa", "root"]) == 0
    assert "root: two-step login is off" in capsys.readouterr().out
    assert on_root(env, factor) is None
    assert main(["users", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[5] == "off"
    assert main(["users", "reset-mfa", "root"]) == 1
    assert "mfa_not_enabled" in capsys.readouterr().err


def test_show_and_logout(env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`show` tells what an admin's GET /users/{id} tells; `logout` ends every session and keeps the account."""
    create(monkeypatch, "root", "--admin")
    now = datetime.now(UTC)

    async def start_two(tx: Stores, root: User) -> None:
        for i in range(2):
            await add_session(tx, root, now, f"0190b5a8-0000-7000-8000-00000000000{i}", f"device-{i}")

    async def active(tx: Stores, root: User) -> int:
        return len(await tx.sessions.list_for_user(root.id, now))

    on_root(env, start_two)
    assert on_root(env, active) == 2
    capsys.readouterr()
    assert main(["users", "show", "root"]) == 0
    shown = capsys.readouterr().out
    assert "username        root" in shown and "roles           admin,user" in shown
    assert "two-step login  off" in shown and "sessions        2 active" in shown
    assert "device-1" in shown and "192.0.2.7" in shown
    assert main(["users", "logout", "root@example.com"]) == 0
    assert "root: 2 session(s) ended" in capsys.readouterr().out
    assert on_root(env, active) == 0
    assert main(["users", "show", "root"]) == 0
    assert "disabled        no" in capsys.readouterr().out
    assert main(["users", "show", "nobody"]) == 1


def test_cleanup(env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`authgate cleanup`: one retention sweep, for a cron job (domain/retention.py)."""
    create(monkeypatch, "root", "--admin")
    now = datetime.now(UTC)

    async def start_one_ended(tx: Stores, root: User) -> None:
        session = await add_session(tx, root, now, "0190b5a8-0000-7000-8000-0000000000aa", "device")
        assert await tx.sessions.end(session.id, now - timedelta(seconds=1))

    on_root(env, start_one_ended)
    capsys.readouterr()
    assert main(["cleanup"]) == 0
    out = capsys.readouterr().out
    assert "deleted 1 session(s) that were over" in out and "deleted 0 audit event(s) older than 365 days" in out
    assert main(["cleanup"]) == 0
    assert "deleted 0 session(s)" in capsys.readouterr().out
    monkeypatch.setenv("AUTHGATE_AUDIT_RETENTION_DAYS", "0")
    assert main(["cleanup"]) == 0
    assert "audit events: kept" in capsys.readouterr().out


def test_an_operator_invites_a_user_and_mails_password_links(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`create-user --invite` sets no password and mails the invitation before the command ends; `users
    password-link` mails it again, or a reset link to a user who has a password."""
    invitation = "Your account is ready: choose a password"
    with mail_server() as smtp:
        for name, value in smtp.env().items():
            monkeypatch.setenv(name, value)
        assert main(["create-user", "dora", "--email", "dora@example.com", "--invite"]) == 0
        assert "an invitation to choose a password is on its way to dora@example.com" in capsys.readouterr().out
        (mail,) = smtp.to("dora@example.com", invitation)
        assert "with the username dora" in mail.text and "7 days" in mail.text

        assert main(["users", "list", "--q", "dora"]) == 0
        assert capsys.readouterr().out.splitlines()[1].split()[4] == "invited"  # the PASSWORD column
        assert main(["users", "password-link", "dora"]) == 0
        assert "dora: the invitation mailed to dora@example.com" in capsys.readouterr().out
        assert len(smtp.to("dora@example.com", invitation)) == 2

        create(monkeypatch, "erin")
        assert main(["users", "password-link", "erin"]) == 0
        assert "erin: a reset link mailed to erin@example.com" in capsys.readouterr().out
        assert len(smtp.to("erin@example.com", RESET)) == 1 and smtp.to("erin@example.com", invitation) == []

        with pytest.raises(SystemExit):  # argparse: one way to set the password, not both
            main(["create-user", "fay", "--email", "fay@example.com", "--invite", "--password-stdin"])
