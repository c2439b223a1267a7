"""The seed's own Flask prototype, migrated: its users log in to authgate with their old passwords.

The prototype (Flask, Flask-SQLAlchemy, Werkzeug's hashing) registers users through its own form posts, some
with Werkzeug's default scrypt and some with the pbkdf2 of Werkzeug 2.0 to 2.2. The real `authgate
import-users` command imports its SQLite file; the real server (`authgate serve`) then logs those users in over
HTTP, each first login replacing the legacy hash by argon2id with the current parameters.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx

from authgate.storage import open_database
from fixtures.seed_flask_app.app import create_app
from liveserver import FAST_HASH_ENV, authgate, live_server

SCRYPT_USERS = {"alice": "correct horse battery staple", "bob": "pässwörd über alles", "李雷": "密码🔑 with spaces "}
PBKDF2_USERS = {"carol": "an old pbkdf2 password", "dave.smith": "Tr0ub4dor&3"}
CURRENT = "$argon2id$v=19$m=64,t=1,p=1$"  # FAST_HASH_ENV, parallelism 1


def seed_database(path: Path) -> None:
    for method, users in ((None, SCRYPT_USERS), ("pbkdf2:sha256:260000", PBKDF2_USERS)):
        client = create_app(f"sqlite:///{path}", password_method=method).test_client()
        for username, password in users.items():
            response = client.post("/register", data={"username": username, "password": password})
            assert response.status_code == 302, response.text
    with closing(sqlite3.connect(path)) as conn:
        hashes = dict(conn.execute("SELECT username, password_hash FROM user"))
    assert all(hashes[name].startswith("scrypt:32768:8:1$") for name in SCRYPT_USERS)
    assert all(hashes[name].startswith("pbkdf2:sha256:260000$") for name in PBKDF2_USERS)


async def stored_hashes(database_url: str) -> dict[str, str]:
    db = open_database(database_url)
    await db.connect()
    try:
        async with db.reader() as r:
            found = {n: await r.users.get_by_login(n) for n in [*SCRYPT_USERS, *PBKDF2_USERS]}
    finally:
        await db.close()
    return {name: user.password_hash for name, user in found.items() if user is not None}


def test_the_prototypes_users_log_in_to_authgate(tmp_path: Path, database_url: str) -> None:
    seed = tmp_path / "seed.db"
    seed_database(seed)
    env = {"AUTHGATE_DATABASE_URL": database_url, **FAST_HASH_ENV, "AUTHGATE_ACCESS_LOG": "false"}
    rejects = tmp_path / "rejects.jsonl"
    command = ["import-users", f"sqlite:///{seed}", "--email-domain", "example.org", "--rejects", str(rejects)]

    first = authgate(*command, env=env)
    assert first.returncode == 3, first.stderr  # 3: some records were rejected, the others imported
    assert "imported 4 users, skipped 0 (already there), rejected 1" in first.stdout
    assert [json.loads(line) for line in rejects.read_text().splitlines()] == [
        {
            "id": 3,
            "username": "李雷",
            "outcome": "rejected",
            "reason": "invalid_username",
            "detail": "username: must be 3 to 32 characters",
        }
    ]
    assert "scrypt:" not in first.stdout + first.stderr + rejects.read_text()

    before = asyncio.run(stored_hashes(database_url))
    assert before["alice"].startswith("scrypt:32768:8:1$") and before["carol"].startswith("pbkdf2:sha256:260000$")

    with live_server(env, tmp_path) as server:
        for username, password in {**SCRYPT_USERS, **PBKDF2_USERS}.items():
            if username == "李雷":
                continue
            wrong = httpx.post(f"{server.url}/auth/login", json={"username": username, "password": password + "?"})
            assert wrong.status_code == 401, username
            ok = httpx.post(f"{server.url}/auth/login", json={"username": username, "password": password}, timeout=10)
            assert ok.status_code == 200, (username, ok.text)
            me = httpx.get(f"{server.url}/auth/me", headers={"authorization": f"Bearer {ok.json()['access_token']}"})
            assert me.json()["email"] == f"{username}@example.org" and me.json()["roles"] == ["user"]
        by_email = httpx.post(
            f"{server.url}/auth/login", json={"username": "Carol@Example.org", "password": PBKDF2_USERS["carol"]}
        )
        assert by_email.status_code == 200

    after = asyncio.run(stored_hashes(database_url))
    assert sorted(after) == ["alice", "bob", "carol", "dave.smith"]
    assert all(h.startswith(CURRENT) for h in after.values()), after

    again = authgate(*command, env=env)
    assert again.returncode == 3, again.stderr
    assert "imported 0 users, skipped 4 (already there), rejected 1" in again.stdout
    assert asyncio.run(stored_hashes(database_url)) == after, "a re-run changes nobody"

    prototype = create_app(f"sqlite:///{seed}").test_client()  # the source was only read
    assert prototype.post("/login", data={"username": "bob", "password": SCRYPT_USERS["bob"]}).status_code == 302
