"""`authgate users ...`, through `authgate.cli.main`, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from authgate.cli import main

PASSWORD = "cli-test-passphrase-1"


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("AUTHGATE_PASSWORD_HASH_MEMORY_KIB", "64")
    monkeypatch.setenv("AUTHGATE_PASSWORD_HASH_TIME_COST", "1")
    monkeypatch.setenv("AUTHGATE_LOG_LEVEL", "warning")
    return database_url


def create(monkeypatch: pytest.MonkeyPatch, name: str, *flags: str) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["create-user", name, "--email", f"{name}@example.com", "--password-stdin", *flags]) == 0


def test_list_grant_revoke_disable_enable_delete(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create(monkeypatch, "root", "--admin")
    for name in ["alice", "bob", "carol"]:
        create(monkeypatch, name)
    capsys.readouterr()

    assert main(["users", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["USERNAME", "EMAIL", "ROLES", "DISABLED", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == ["root", "alice", "bob", "carol"]
    assert lines[1].split()[2:4] == ["admin,user", "no"]

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
    import asyncio
    from datetime import UTC, datetime

    from authgate.domain.totp import TotpFactor
    from authgate.storage import open_database

    create(monkeypatch, "root", "--admin")
    now = datetime.now(UTC)

    async def factor(put: bool) -> TotpFactor | None:
        db = open_database(env)
        await db.connect()
        try:
            async with db.transaction() as tx:
                user = await tx.users.get_by_login("root")
                assert user is not None
                if put:
                    await tx.mfa.put(TotpFactor(user_id=user.id, secret=b"S" * 32, created_at=now, confirmed_at=now))
                return await tx.mfa.get(user.id)
        finally:
            await db.close()

    assert asyncio.run(factor(put=True)) is not None
    capsys.readouterr()
    assert main(["users", "reset-mfa", "root"]) == 0
    assert "root: two-step login is off" in capsys.readouterr().out
    assert asyncio.run(factor(put=False)) is None
    assert main(["users", "reset-mfa", "root"]) == 1
    assert "mfa_not_enabled" in capsys.readouterr().err
