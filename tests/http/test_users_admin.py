"""The admin user API (/users) and PATCH /auth/me, in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import httpx
import pytest

from authgate.app import App, create_app
from authgate.domain.admin import UserChanges
from helpers import PASSWORD, bearer, login, make_settings, register
from mfa_helpers import code, enable, mfa_token, second_step


async def make_admin(app: App, client: httpx.AsyncClient, name: str = "root") -> dict[str, str]:
    await app.services.admin.create(name, f"{name}@example.com", PASSWORD, roles=("admin", "user"))
    return bearer((await login(client, name))["access_token"])


@pytest.fixture
async def admin(app: App, client: httpx.AsyncClient) -> dict[str, str]:
    return await make_admin(app, client)


async def walk(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/users", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


# -- access ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users"),
        ("POST", "/users"),
        ("GET", "/users/0190a0a0-0000-7000-8000-000000000000"),
        ("PATCH", "/users/0190a0a0-0000-7000-8000-000000000000"),
        ("DELETE", "/users/0190a0a0-0000-7000-8000-000000000000"),
    ],
)
async def test_every_endpoint_needs_an_admin(client: httpx.AsyncClient, method: str, path: str) -> None:
    assert (await client.request(method, path)).status_code == 401
    bad = await client.request(method, path, headers=bearer("not-a-token"))
    assert bad.status_code == 401 and bad.headers["www-authenticate"].startswith("Bearer")
    await register(client, "mallory")
    token = (await login(client, "mallory"))["access_token"]
    forbidden = await client.request(method, path, headers=bearer(token), json={})
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "forbidden"


# -- list ----------------------------------------------------------------------------------------------------


async def test_list_pages_and_sorts(app: App, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for name in ["carol", "alice", "bob", "dave", "erin"]:
        await register(client, name)
    first = await client.get("/users", params={"limit": 2}, headers=admin)
    assert first.status_code == 200
    body = first.json()
    assert [u["username"] for u in body["items"]] == ["root", "carol"]
    assert body["next_cursor"]
    assert "password_hash" not in first.text
    by_created = [u["username"] for u in await walk(client, admin, limit=2)]
    assert by_created == ["root", "carol", "alice", "bob", "dave", "erin"]
    newest = [u["username"] for u in await walk(client, admin, limit=2, sort="-created_at")]
    assert newest == list(reversed(by_created))
    names = [u["username"] for u in await walk(client, admin, limit=4, sort="username")]
    assert names == sorted(by_created)


async def test_q_matches_username_or_email_prefix(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await register(client, "alice", "zed@example.com")
    await register(client, "alfred", "al@example.com")
    await register(client, "bob", "ALBERT@example.com")
    await register(client, "xalice", "x@example.com")

    async def q(text: str, **extra: str) -> list[str]:
        return [u["username"] for u in await walk(client, admin, q=text, **extra)]

    assert await q("al") == ["alice", "alfred", "bob"]  # bob by his email; never a match in the middle
    assert await q("AL", sort="username") == ["alfred", "alice", "bob"]
    assert await q("zed@") == ["alice"]
    assert await q("nobody") == []


async def test_role_filter(app: App, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for name in ["alice", "bob", "carol"]:
        await register(client, name)
    bob = await app.services.admin.find("bob")
    await app.services.admin.update(bob.id, UserChanges(roles=("admin",)))
    admins = [u["username"] for u in await walk(client, admin, role="admin")]
    assert admins == ["root", "bob"]
    assert [u["username"] for u in await walk(client, admin, role="admin", sort="username")] == ["bob", "root"]
    assert [u["username"] for u in await walk(client, admin, role="user", sort="-created_at")] == [
        "carol",
        "alice",
        "root",
    ]
    unknown = await client.get("/users", params={"role": "wizard"}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "role"


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten", "1.5"])
async def test_limit_bounds(client: httpx.AsyncClient, admin: dict[str, str], limit: str) -> None:
    response = await client.get("/users", params={"limit": limit}, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"


async def test_limit_edges_and_bad_sort(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert (await client.get("/users?limit=1", headers=admin)).status_code == 200
    assert (await client.get("/users?limit=200", headers=admin)).status_code == 200
    assert (await client.get("/users?sort=password", headers=admin)).status_code == 422
    assert (await client.get("/users?q=a%00b", headers=admin)).status_code == 422


async def test_walk_returns_everyone_once_while_users_come_and_go(
    app: App, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for i in range(30):
        await app.services.admin.create(f"user{i:02d}", f"user{i:02d}@example.com", PASSWORD)
    for n, sort in enumerate(("created_at", "-created_at", "username")):
        seen: list[str] = []
        present_throughout = {u.id for u in (await app.services.admin.list(limit=200)).users}
        deleted: set[str] = set()
        cursor = None
        step = 0
        while True:
            params: dict[str, Any] = {"limit": 4, "sort": sort, **({"cursor": cursor} if cursor else {})}
            body = (await client.get("/users", params=params, headers=admin)).json()
            seen += [u["id"] for u in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
            step += 1
            # Between pages: a newcomer arrives and somebody not yet seen leaves.
            await app.services.admin.create(f"new{n}x{step}", f"new{n}x{step}@example.com", PASSWORD)
            unseen = sorted(present_throughout - set(seen) - deleted)
            if len(unseen) > 3:
                victim = unseen[len(unseen) // 2]
                await app.services.admin.delete(victim)
                deleted.add(victim)
        assert len(seen) == len(set(seen)), f"{sort}: a user came twice"
        assert present_throughout - deleted <= set(seen), f"{sort}: a user present throughout was skipped"
        assert not deleted & set(seen)


async def test_tampered_and_foreign_cursors(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for name in ["alice", "bob", "carol"]:
        await register(client, name)
    cursor = (await client.get("/users?limit=1", headers=admin)).json()["next_cursor"]
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-20] ^= 1  # a bit of the payload
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    for bad in [tampered, "garbage", cursor[:-2], "x" * 600, cursor + "AA"]:
        response = await client.get("/users", params={"limit": 1, "cursor": bad}, headers=admin)
        assert response.status_code in (400, 422), bad
        if response.status_code == 400:
            assert response.json()["code"] == "invalid_cursor"
    for other in [{"sort": "username"}, {"q": "a"}, {"role": "user"}, {"sort": "-created_at"}]:
        response = await client.get("/users", params={"limit": 1, "cursor": cursor, **other}, headers=admin)
        assert response.status_code == 400, other
        assert response.json()["code"] == "invalid_cursor"
    ok = await client.get("/users", params={"limit": 5, "cursor": cursor}, headers=admin)
    assert ok.status_code == 200 and len(ok.json()["items"]) == 3


async def test_a_cursor_from_another_server_is_refused(
    app: App, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    from authgate.domain.cursors import CursorCodec, Listing

    foreign = CursorCodec(b"k" * 32).encode(
        Listing("users", "created_at"), ("0", "0190a0a0-0000-7000-8000-000000000000")
    )
    response = await client.get("/users", params={"cursor": foreign}, headers=admin)
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


# -- create, get -------------------------------------------------------------------------------------------


async def test_create_and_get(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = {"username": "Zoe", "email": "zoe@example.com", "password": PASSWORD, "roles": ["admin"]}
    created = await client.post("/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["roles"] == ["admin"] and created.headers["location"] == f"/users/{user['id']}"
    got = await client.get(f"/users/{user['id']}", headers=admin)
    assert got.status_code == 200
    no_mfa = {"enabled": False, "pending": False, "recovery_codes_left": 0}
    assert got.json() == {**user, "mfa": no_mfa, "passkeys": 0, "active_sessions": 0, "has_password": True}
    default = await client.post("/users", json={**body, "username": "yan", "email": "y@example.com", "roles": None})
    assert default.status_code == 401  # no token
    plain = {"username": "yan", "email": "y@example.com", "password": PASSWORD}
    made = await client.post("/users", json=plain, headers=admin)
    assert made.status_code == 201 and made.json()["roles"] == ["user"]
    assert (await login(client, "Zoe"))["access_token"]


async def test_an_admin_sees_a_users_second_factor_and_sessions(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    alice_id = (await register(client, "alice"))["id"]
    answer = await client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD}, headers={"user-agent": "first-device/1.0"}
    )
    first = answer.json()
    secret, _ = await enable(client, first["access_token"])
    second = await second_step(client, await mfa_token(client), code(secret, 1))
    assert second.status_code == 200
    details = (await client.get(f"/users/{alice_id}", headers=admin)).json()
    assert details["username"] == "alice" and details["active_sessions"] == 2
    assert details["mfa"] == {"enabled": True, "pending": False, "recovery_codes_left": 10}
    listed = await client.get(f"/users/{alice_id}/sessions", headers=admin)
    assert listed.status_code == 200
    sessions = listed.json()["items"]
    assert [s["second_factor"] for s in sessions] == ["totp", None]  # newest first
    assert sessions[1]["user_agent"] == "first-device/1.0"
    assert not any(s["current"] for s in sessions)
    alice = bearer(first["access_token"])
    for path in (f"/users/{alice_id}", f"/users/{alice_id}/sessions"):
        assert (await client.get(path, headers=alice)).status_code == 403
        assert (await client.get(path)).status_code == 401
    for unknown in ("0190b5a8-0000-7000-8000-000000000001", "not-an-id", "%00", "x" * 300):
        for path in (f"/users/{unknown}", f"/users/{unknown}/sessions"):
            response = await client.get(path, headers=admin)
            assert response.status_code == 404 and response.json()["code"] == "user_not_found", path


async def test_the_listing_tells_who_has_a_password_and_two_step_login(
    client: httpx.AsyncClient, app: App, admin: dict[str, str]
) -> None:
    """Each listed user says whether it has a password yet (an invitation has none) and whether two-step login
    is on: a confirmed authenticator, not one set up and never confirmed; in every sort order and with `q`
    (whose page is a UNION of two index scans), across pages."""
    alice = await login(client, (await register(client, "ann-alice"))["username"])
    _, recovery = await enable(client, alice["access_token"])
    bob = await login(client, (await register(client, "ann-bob"))["username"])
    pending = await client.post("/auth/mfa/totp", json={"password": PASSWORD}, headers=bearer(bob["access_token"]))
    assert pending.status_code == 201
    await app.services.admin.create("ann-invited", "ann-invited@example.com", None)
    expected = {
        "root": (True, False),
        "ann-alice": (True, True),
        "ann-bob": (True, False),
        "ann-invited": (False, False),
    }
    for params in ({}, {"sort": "-created_at"}, {"sort": "username"}, {"q": "ann-"}, {"q": "ANN", "sort": "username"}):
        for limit in (1, 50):
            items = await walk(client, admin, limit=limit, **params)
            seen = {i["username"]: (i["has_password"], i["mfa_enabled"]) for i in items}
            want = expected if "q" not in params else {k: v for k, v in expected.items() if k.startswith("ann-")}
            assert seen == want, (params, limit)
            assert len(items) == len(want)
    off = {"password": PASSWORD, "code": recovery[0]}
    assert (await client.post("/auth/mfa/disable", json=off, headers=bearer(alice["access_token"]))).status_code == 204
    items = await walk(client, admin, q="ann-alice")
    assert [(i["username"], i["mfa_enabled"]) for i in items] == [("ann-alice", False)]


async def test_an_admin_signs_a_user_out_everywhere(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """Every session ends (access tokens and refresh tokens stop working at once); the account stays usable."""
    alice_id = (await register(client, "alice"))["id"]
    pairs = [await login(client, "alice") for _ in range(3)]
    for pair in pairs:  # checked once, so that (on PostgreSQL) the worker's session cache holds them
        assert (await client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 200
    assert (await client.post(f"/users/{alice_id}/logout", headers=bearer(pairs[0]["access_token"]))).status_code == 403
    ended = await client.post(f"/users/{alice_id}/logout", headers=admin)
    assert ended.status_code == 200 and ended.json() == {"ended": 3}
    for pair in pairs:
        assert (await client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 401
        refreshed = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 401
    assert (await client.get(f"/users/{alice_id}", headers=admin)).json()["disabled"] is False
    assert (await client.post(f"/users/{alice_id}/logout", headers=admin)).json() == {"ended": 0}
    assert "access_token" in await login(client, "alice")
    for unknown in ("0190b5a8-0000-7000-8000-000000000001", "not-an-id"):
        response = await client.post(f"/users/{unknown}/logout", headers=admin)
        assert response.status_code == 404 and response.json()["code"] == "user_not_found"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"username": "root", "email": "new@example.com"}, 409, "username_taken"),
        ({"username": "new", "email": "ROOT@example.com"}, 409, "email_taken"),
        ({"username": "x", "email": "new@example.com"}, 422, "validation_failed"),
        ({"username": "new", "email": "not-an-email"}, 422, "validation_failed"),
        ({"username": "new", "email": "new@example.com", "roles": ["wizard"]}, 422, "validation_failed"),
        ({"username": "new", "email": "new@example.com", "password": "short"}, 422, "validation_failed"),
        ({"username": "new", "email": "new@example.com", "disabled": True}, 422, "validation_failed"),
    ],
)
async def test_create_validates_like_register(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], status: int, code: str
) -> None:
    response = await client.post("/users", json={"password": PASSWORD, **body}, headers=admin)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def test_create_works_when_registration_is_closed(database_url: str) -> None:
    closed = create_app(make_settings(database_url, registration_open=False))
    await closed.startup()
    try:
        transport = httpx.ASGITransport(app=closed, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate.test") as client:
            admin = await make_admin(closed, client)
            body = {"username": "ann", "email": "ann@example.com", "password": PASSWORD}
            assert (await client.post("/auth/register", json=body)).status_code == 403
            created = await client.post("/users", json=body, headers=admin)
            assert created.status_code == 201, created.text
    finally:
        await closed.shutdown()


@pytest.mark.parametrize(
    "user_id", ["nope", "0190a0a0-0000-7000-8000-000000000000", "0190A0A0-0000-7000-8000-000000000000"]
)
async def test_unknown_user_is_404(client: httpx.AsyncClient, admin: dict[str, str], user_id: str) -> None:
    for method, body in [("GET", None), ("PATCH", {"disabled": True}), ("DELETE", None)]:
        response = await client.request(method, f"/users/{user_id}", json=body, headers=admin)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["code"] == "user_not_found"


# -- update ------------------------------------------------------------------------------------------------


async def test_update_email_and_roles(app: App, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    alice = await register(client, "alice")
    response = await client.patch(
        f"/users/{alice['id']}", json={"email": "Alice.New@Example.com", "roles": ["user", "admin"]}, headers=admin
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["email"] == "Alice.New@example.com" and body["roles"] == ["user", "admin"]
    assert body["email_verified"] is False and body["updated_at"] > alice["updated_at"]
    assert (await client.get("/users?role=admin", headers=admin)).json()["items"][1]["id"] == alice["id"]
    clash = await client.patch(f"/users/{alice['id']}", json={"email": "root@example.com"}, headers=admin)
    assert clash.status_code == 409 and clash.json()["code"] == "email_taken"
    noop = await client.patch(f"/users/{alice['id']}", json={}, headers=admin)
    assert noop.status_code == 200 and noop.json()["email"] == "Alice.New@example.com"


@pytest.mark.parametrize(
    "body",
    [
        {"password": "N3w-passw0rd-chosen-by-admin"},
        {"username": "renamed"},
        {"email_verified": True},
        {"roles": "admin"},
        {"roles": ["wizard"]},
        {"disabled": "yes"},
        {"email": None},
    ],
)
async def test_update_refuses_other_fields(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
) -> None:
    alice = await register(client, "alice")
    response = await client.patch(f"/users/{alice['id']}", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert (await login(client, "alice"))["access_token"]  # the password is unchanged


async def test_disabling_ends_sessions_at_once(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    alice = await register(client, "alice")
    tokens = [await login(client, "alice") for _ in range(2)]
    assert (await client.get("/auth/me", headers=bearer(tokens[0]["access_token"]))).status_code == 200
    response = await client.patch(f"/users/{alice['id']}", json={"disabled": True}, headers=admin)
    assert response.status_code == 200 and response.json()["disabled"] is True
    for pair in tokens:
        assert (await client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 401
        refreshed = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 401
    bad_login = await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert bad_login.status_code == 401
    enabled = await client.patch(f"/users/{alice['id']}", json={"disabled": False}, headers=admin)
    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    again = await login(client, "alice")
    assert (await client.get("/auth/me", headers=bearer(again["access_token"]))).status_code == 200
    for pair in tokens:  # ended sessions stay ended
        assert (await client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 401


async def test_delete_ends_everything(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    alice = await register(client, "alice")
    pair = await login(client, "alice")
    deleted = await client.delete(f"/users/{alice['id']}", headers=admin)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 401
    assert (await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})).status_code == 401
    assert (await client.get(f"/users/{alice['id']}", headers=admin)).status_code == 404
    assert (await client.delete(f"/users/{alice['id']}", headers=admin)).status_code == 404
    assert (await register(client, "alice"))["id"] != alice["id"]  # the name is free again


async def test_the_last_admin_stays(app: App, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    root = await app.services.admin.find("root")
    for body in [{"roles": ["user"]}, {"disabled": True}]:
        response = await client.patch(f"/users/{root.id}", json=body, headers=admin)
        assert response.status_code == 409 and response.json()["code"] == "last_admin"
    response = await client.delete(f"/users/{root.id}", headers=admin)
    assert response.status_code == 409 and response.json()["code"] == "last_admin"
    assert (await client.get("/auth/me", headers=admin)).status_code == 200
    # With a second admin, the first may step down, and then the second is the last one.
    second = await make_admin(app, client, "second")
    demoted = await client.patch(f"/users/{root.id}", json={"roles": ["user"]}, headers=second)
    assert demoted.status_code == 200
    assert (await client.get("/users", headers=admin)).status_code == 403  # the demotion is effective at once
    me = (await client.get("/auth/me", headers=second)).json()
    assert (await client.delete(f"/users/{me['id']}", headers=second)).status_code == 409
    # A disabled admin does not count.
    await app.services.admin.update(root.id, UserChanges(roles=("admin",), disabled=True))
    assert (await client.patch(f"/users/{me['id']}", json={"roles": []}, headers=second)).status_code == 409


async def test_two_admins_demoting_each_other_at_once_leave_one(app: App, client: httpx.AsyncClient) -> None:
    a = await make_admin(app, client, "admin_a")
    b = await make_admin(app, client, "admin_b")
    a_id = (await client.get("/auth/me", headers=a)).json()["id"]
    b_id = (await client.get("/auth/me", headers=b)).json()["id"]
    for _ in range(3):
        results = await asyncio.gather(
            app.services.admin.update(b_id, UserChanges(roles=("user",))),
            app.services.admin.update(a_id, UserChanges(roles=("user",))),
            return_exceptions=True,
        )
        assert sum(isinstance(r, Exception) and getattr(r, "code", "") == "last_admin" for r in results) == 1, results
        async with app.services.db.reader() as r:
            assert await r.users.count_admins() == 1
        await app.services.admin.update(a_id, UserChanges(roles=("admin",)))
        await app.services.admin.update(b_id, UserChanges(roles=("admin",)))


async def test_admin_changes_are_logged(
    client: httpx.AsyncClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authgate.security")
    alice = await register(client, "alice")
    await client.patch(f"/users/{alice['id']}", json={"disabled": True}, headers=admin)
    await client.delete(f"/users/{alice['id']}", headers=admin)
    events = [(r.event, getattr(r, "target_id", None)) for r in caplog.records if hasattr(r, "event")]  # type: ignore[attr-defined]
    assert ("admin_user_update", alice["id"]) in events and ("admin_user_delete", alice["id"]) in events
    assert PASSWORD not in caplog.text


# -- PATCH /auth/me ----------------------------------------------------------------------------------------


async def test_change_own_email(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    token = bearer((await login(client, "alice"))["access_token"])
    wrong = await client.patch(
        "/auth/me", json={"email": "a@example.org", "current_password": "wrong-password"}, headers=token
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    ok = await client.patch("/auth/me", json={"email": "A@Example.org", "current_password": PASSWORD}, headers=token)
    assert ok.status_code == 202, ok.text
    assert ok.json() == {"status": "confirm_new_email", "email": "A@example.org"}
    # Nothing changes until the link mailed to the new address is followed (tests/mail/test_email_change.py).
    assert (await client.get("/auth/me", headers=token)).json()["email"] == "alice@example.com"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.org"},
        {"current_password": PASSWORD},
        {"email": "a@example.org", "current_password": PASSWORD, "roles": ["admin"]},
        {"email": "a@example.org", "current_password": PASSWORD, "username": "mallory"},
        {"email": "a@example.org", "current_password": PASSWORD, "disabled": False},
        {"email": "not-an-email", "current_password": PASSWORD},
    ],
)
async def test_change_own_email_refuses_anything_else(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    await register(client, "alice")
    token = bearer((await login(client, "alice"))["access_token"])
    response = await client.patch("/auth/me", json=body, headers=token)
    assert response.status_code == 422, response.text
    me = (await client.get("/auth/me", headers=token)).json()
    assert me["email"] == "alice@example.com" and me["roles"] == ["user"]


async def test_change_own_email_conflict_and_auth(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    await register(client, "bob")
    token = bearer((await login(client, "alice"))["access_token"])
    clash = await client.patch(
        "/auth/me", json={"email": "BOB@example.com", "current_password": PASSWORD}, headers=token
    )
    assert clash.status_code == 409 and clash.json()["code"] == "email_taken"
    anonymous = await client.patch("/auth/me", json={"email": "x@example.com", "current_password": PASSWORD})
    assert anonymous.status_code == 401
