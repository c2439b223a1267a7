"""Hostile data against the real server (`authgate serve`, 2 workers), on SQLite and on PostgreSQL.

- SQL metacharacters (`'`, `;`, `--`, `%`, `_`, `\\`, quotes) in every field that stores text and in every query
  and path parameter are data: stored and returned byte for byte, matching only themselves (`q=%` is a prefix
  of "%", not a wildcard), refused where the field's rules refuse them; afterwards every table and row is there.
- Look-alikes: `ａdmin` (fullwidth a), `Admin`, `ADMIN` and `admⅰn` (a Roman numeral) are the NFKC + case-folded
  name `admin`: each one clashes with it on registration (409 username_taken) and signs in as it; the same for
  email addresses. A letter of another script (Cyrillic а) is not a look-alike authgate folds: it is refused.
"""

# ruff: noqa: RUF001, RUF002, RUF003 (the look-alike letters are the point)
from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from authgate.domain.users import login_key
from helpers import PASSWORD, assert_problem
from liveapi import ADMIN, Target, serve

pytestmark = pytest.mark.reliability

HOSTILE = ["'; DROP TABLE users; --", "' OR '1'='1", "%", "_", "\\", '"', "`", "%_%", "\\'; --", "*", "[a-z]"]
EMAILS = ["o'brien@example.com", "100%_sure@example.com", "_under_@example.com", "%%@example.com"]
EMAILS += ["a'--@example.com", "x'or'1'='1@example.com", "back`tick@example.com", "q{u}o|t=e@example.com"]
PASSWORDS = ["'; DROP TABLE users; --", "%' OR '1'='1' --", "\\'; DELETE FROM sessions; --", '" OR ""="']
PASSWORDS += ["_%_%_%_\\\\", "Robert'); DROP TABLE students;--", "' UNION SELECT * FROM signing_keys --", "%00%27%3B--"]
USERNAMES = ["___", "_x_", "a.b-c", "__init__", "x--", "y__", "_%_".replace("%", "_"), "--z"]
USER_AGENT = "'; DROP TABLE sessions; -- \\ % _ \" `"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with serve(request, tmp_path_factory.mktemp(request.param), request.param) as t:
        yield t


def tables_and_users(target: Target) -> tuple[set[str], int]:
    """The database's table names and its number of users, read directly."""
    url = target.env["AUTHGATE_DATABASE_URL"]
    if target.backend == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return names, db.execute("SELECT count(*) FROM users").fetchone()[0]

    async def read() -> tuple[set[str], int]:
        import asyncpg

        db = await asyncpg.connect(url)
        try:
            rows = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {r[0] for r in rows}, await db.fetchval("SELECT count(*) FROM users")
        finally:
            await db.close()

    return asyncio.run(read())


def all_users(http: httpx.Client, target: Target, **params: str) -> list[dict[str, Any]]:
    """Every user of a listing, page by page (limit 2, so that the cursors are used too)."""
    users: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = http.get("/users", params={**params, "limit": "2", "cursor": cursor}, headers=target.admin)
        assert page.status_code == 200, page.text
        users += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return users


def test_sql_metacharacters_are_data(target: Target) -> None:
    tables, users_before = tables_and_users(target)
    people = []
    with target.client(headers={"User-Agent": USER_AGENT}) as http:
        for username, email, password in zip(USERNAMES, EMAILS, PASSWORDS, strict=True):
            name = f"{username}{uuid.uuid4().hex[:4]}"
            created = http.post("/auth/register", json={"username": name, "email": email, "password": password})
            assert created.status_code == 201, created.text
            assert (created.json()["username"], created.json()["email"]) == (name, email)
            people.append((created.json()["id"], name, email, password))
        for user_id, name, email, password in people:
            for login in (name, email, email.upper()):
                signed_in = http.post("/auth/login", json={"username": login, "password": password})
                assert signed_in.status_code == 200, (login, signed_in.text)
            bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
            me = http.get("/auth/me", headers=bearer).json()
            assert (me["id"], me["username"], me["email"]) == (user_id, name, email)
            sessions = http.get("/auth/sessions", headers=bearer).json()["items"]
            assert {s["user_agent"] for s in sessions} == {USER_AGENT}
        for hostile in HOSTILE:
            for password in (hostile, PASSWORD):
                refused = http.post("/auth/login", json={"username": hostile, "password": password})
                assert_problem(refused, 401, "invalid_credentials")
            refused = http.post("/auth/login", json={"username": f"{ADMIN}{hostile}", "password": PASSWORD})
            assert_problem(refused, 401, "invalid_credentials")

        # q is a prefix, never a pattern: exactly the users whose username or email starts with it.
        everyone = all_users(http, target)
        for q in [*HOSTILE, *(e[:3] for e in EMAILS), "%%", "_u", "o'"]:
            key = login_key(q)
            expected = {u["id"] for u in everyone if login_key(u["username"]).startswith(key)
                        or login_key(u["email"]).startswith(key)}  # fmt: skip
            found = [u["id"] for u in all_users(http, target, q=q)]
            assert sorted(found) == sorted(expected), q
            assert len(found) == len(set(found)), q  # each once, across pages
        assert len(everyone) == users_before + len(people)

        for name, value in [("role", "user' OR '1'='1"), ("sort", "username; DROP TABLE users"), ("limit", "1;--")]:
            assert_problem(http.get("/users", params={name: value}, headers=target.admin), 422, "validation_failed")
        for cursor in HOSTILE:
            bad = http.get("/users", params={"cursor": cursor}, headers=target.admin)
            assert_problem(bad, 400, "invalid_cursor")
        for name in ("event", "user_id"):
            bad = http.get("/audit", params={name: "' OR '1'='1"}, headers=target.admin)
            assert_problem(bad, 422, "validation_failed")
        for hostile in HOSTILE:
            path = "/users/" + quote(hostile, safe="")
            assert_problem(http.get(path, headers=target.admin), 404, "user_not_found")
            assert_problem(http.delete(path, headers=target.admin), 404, "user_not_found")
            assert_problem(http.patch(path, json={"disabled": True}, headers=target.admin), 404, "user_not_found")
            assert_problem(
                http.delete("/auth/sessions/" + quote(hostile, safe=""), headers=bearer), 404, "session_not_found"
            )

        for hostile in HOSTILE:  # in every token a client hands back
            for path in ("/auth/verify-email", "/auth/confirm-email-change"):
                assert_problem(http.post(path, json={"token": hostile}), 400, "invalid_token")
            reset = http.post("/auth/reset-password", json={"token": hostile, "new_password": PASSWORD + hostile})
            assert_problem(reset, 400, "invalid_token")
            refresh = http.post("/auth/refresh", json={"refresh_token": hostile})
            assert_problem(refresh, 401, "invalid_refresh_token")
            assert http.post("/auth/introspect", data={"token": hostile}).json() == {"active": False}
            assert_problem(http.get("/auth/me", headers={"Authorization": f"Bearer {hostile}"}), 401, "invalid_token")
        for email in EMAILS:
            assert http.post("/auth/forgot-password", json={"email": email}).status_code == 202

        # An admin's change of email to another hostile address is stored as it is, too.
        changed = http.patch(f"/users/{people[0][0]}", json={"email": "z'--%_`{}@example.com"}, headers=target.admin)
        assert changed.status_code == 200 and changed.json()["email"] == "z'--%_`{}@example.com"
        assert http.get(f"/users/{people[0][0]}", headers=target.admin).json()["email"] == "z'--%_`{}@example.com"
        assert http.get("/ping").status_code == 200

    tables_after, users_after = tables_and_users(target)
    assert tables_after == tables and users_after == users_before + len(people)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def test_look_alike_and_case_variants_are_one_account(target: Target) -> None:
    with target.client() as http:
        created = http.post(
            "/auth/register", json={"username": "admin", "email": "admin@example.com", "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        admin_id = created.json()["id"]
        variants = ["ａdmin", "Admin", "ADMIN", "ａｄｍｉｎ", "adm\u2170n", "ᵃdmin"]  # fullwidth, case, ⅰ, modifier ᵃ
        for i, name in enumerate(variants):
            clash = http.post(
                "/auth/register", json={"username": name, "email": f"v{i}@example.com", "password": PASSWORD}
            )
            assert_problem(clash, 409, "username_taken")
            signed_in = http.post("/auth/login", json={"username": name, "password": PASSWORD})
            assert signed_in.status_code == 200, (name, signed_in.text)
            assert _claims(signed_in.json()["access_token"])["sub"] == admin_id
            assert _claims(signed_in.json()["access_token"])["username"] == "admin"
        for name in ("ｒｏｏｔ", "ROOT", "Root"):  # the admin made by the CLI
            clash = http.post("/auth/register", json={"username": name, "email": f"{uuid.uuid4().hex}@example.com",
                                                      "password": PASSWORD})  # fmt: skip
            assert_problem(clash, 409, "username_taken")
        for i, email in enumerate(
            ["ADMIN@EXAMPLE.COM", "Admin@Example.Com", "ａdmin@example.com", "admin@ＥＸＡＭＰＬＥ.com"]
        ):
            clash = http.post("/auth/register", json={"username": f"other{i}", "email": email, "password": PASSWORD})
            assert_problem(clash, 409, "email_taken")
            signed_in = http.post("/auth/login", json={"username": email, "password": PASSWORD})
            assert signed_in.status_code == 200, (email, signed_in.text)
            assert _claims(signed_in.json()["access_token"])["sub"] == admin_id
        # Not folded: a letter of another script, or with an accent, is not [A-Za-z] and is refused outright.
        for name in ("\u0430dmin", "admín", "ad\u200bmin"):  # Cyrillic а, í, a zero-width space
            refused = http.post("/auth/register", json={"username": name, "email": f"{uuid.uuid4().hex}@example.com",
                                                        "password": PASSWORD})  # fmt: skip
            assert_problem(refused, 422, "validation_failed")
            assert_problem(
                http.post("/auth/login", json={"username": name, "password": PASSWORD}), 401, "invalid_credentials"
            )
        # The listing finds the one account under any variant.
        for q in ("ＡＤＭ", "Adm", "ADMIN@"):
            found = http.get("/users", params={"q": q}, headers=target.admin).json()["items"]
            assert [u["id"] for u in found] == [admin_id], q
