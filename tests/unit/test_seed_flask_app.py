"""The seed's Flask prototype writes password hashes that authgate verifies: the import path, end to end.

Users register through the prototype's own form posts; their rows are then read straight from its SQLite
file, as `authgate import-users` will read them.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from authgate.domain.legacy_hashes import identify, verify
from fixtures.seed_flask_app.app import create_app

USERS = {
    "alice": "correct horse battery staple",
    "bob": "pässwörd über alles",
    "李雷": "密码🔑 with spaces ",
}


@pytest.mark.parametrize(
    ("password_method", "scheme", "prefix"),
    [
        (None, "werkzeug-scrypt", "scrypt:32768:8:1$"),  # Werkzeug >= 2.3, as pinned for the tests
        ("pbkdf2:sha256:260000", "werkzeug-pbkdf2", "pbkdf2:sha256:260000$"),  # Werkzeug 2.0 to 2.2
    ],
)
def test_hashes_the_prototype_stored_verify_in_authgate(
    tmp_path: Path, password_method: str | None, scheme: str, prefix: str
) -> None:
    database = tmp_path / "seed.db"
    app = create_app(f"sqlite:///{database}", password_method=password_method)
    client = app.test_client()

    for username, password in USERS.items():
        response = client.post("/register", data={"username": username, "password": password})
        assert response.status_code == 302, response.text
    assert client.post("/register", data={"username": "alice", "password": "again"}).status_code == 409

    assert client.get("/").status_code == 302, "the profile page needs a login"
    assert client.post("/login", data={"username": "bob", "password": "wrong"}).status_code == 401
    assert client.post("/login", data={"username": "bob", "password": USERS["bob"]}).status_code == 302
    assert client.get("/").text == "Hello, bob!"
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302

    with closing(sqlite3.connect(database)) as connection:
        rows = dict(connection.execute("SELECT username, password_hash FROM user").fetchall())
    assert set(rows) == set(USERS)
    for username, password in USERS.items():
        stored = rows[username]
        assert stored.startswith(prefix)
        assert identify(stored) == scheme
        assert verify(stored, password) is True
        assert verify(stored, password + "!") is False
        assert verify(stored, USERS["alice" if username != "alice" else "bob"]) is False
