"""GET /audit: who may read it, what the use cases record, and its keyset pagination."""

from __future__ import annotations

import httpx

from abuse_helpers import client_from, make_admin, started
from helpers import PASSWORD, bearer, login, register


async def _events(c: httpx.AsyncClient, admin: dict[str, str], **params: str) -> list[dict[str, object]]:
    response = await c.get("/audit", params=params, headers=admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


async def test_only_admins_read_the_audit_log(database_url: str) -> None:
    async with started(database_url) as app, client_from(app, "198.51.100.20") as c:
        assert (await c.get("/audit")).status_code == 401
        await register(c, "alice")
        alice = await login(c, "alice")
        forbidden = await c.get("/audit", headers=bearer(alice["access_token"]))
        assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden"


async def test_the_use_cases_record_their_events(database_url: str) -> None:
    async with started(database_url) as app:
        admin = await make_admin(app)
        c = client_from(app, "198.51.100.21")
        async with c:
            alice_id = (await register(c, "alice"))["id"]
            assert (
                await c.post("/auth/login", json={"username": "alice", "password": "wrong-password"})
            ).status_code == 401
            assert (
                await c.post("/auth/login", json={"username": "ghost", "password": "wrong-password"})
            ).status_code == 401
            first = await login(c, "alice")
            second = await login(c, "alice")
            third = await login(c, "alice")
            auth = bearer(first["access_token"])
            refreshed = await c.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
            assert refreshed.status_code == 200
            sessions = (await c.get("/auth/sessions", headers=auth)).json()["items"]
            third_id = next(s["id"] for s in sessions if not s["current"])
            assert (await c.delete(f"/auth/sessions/{third_id}", headers=auth)).status_code == 204
            changed = await c.post(
                "/auth/password",
                json={"current_password": PASSWORD, "new_password": "another-long-secret"},
                headers=auth,
            )
            assert changed.status_code == 204
            assert (await c.post("/auth/logout-all", json={"keep_current": True}, headers=auth)).status_code == 200
            assert (await c.post("/auth/logout", headers=auth)).status_code == 204
            mine = await _events(c, admin, user_id=alice_id)
            unknown = await _events(c, admin, event="login_failure")
        assert third  # a third session, ended above
        assert [e["event"] for e in reversed(mine)] == [
            "register",
            "login_failure",
            "login_success",
            "login_success",
            "login_success",
            "session_end",
            "password_change",
            "logout_all",
            "logout",
        ]
        for e in mine:
            assert e["user_id"] == alice_id and e["ip"] == "198.51.100.21" and e["at"]
        success = next(e for e in mine if e["event"] == "login_success")
        assert success["outcome"] == "success" and success["detail"]["known_device"] is False  # type: ignore[index]
        # A failure for a login that names no account is recorded without a user (and without the name typed).
        ghost = [e for e in unknown if e["user_id"] is None]
        assert len(ghost) == 1 and ghost[0]["detail"] == {"reason": "unknown_account"}
        assert "ghost" not in str(ghost[0])


async def test_admin_changes_are_recorded_with_the_admin_as_actor(database_url: str) -> None:
    async with started(database_url) as app:
        admin = await make_admin(app)
        c = client_from(app, "198.51.100.22")
        async with c:
            admin_id = (await c.get("/auth/me", headers=admin)).json()["id"]
            body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
            alice_id = (await c.post("/users", json=body, headers=admin)).json()["id"]
            await login(c, "alice")
            assert (await c.post(f"/users/{alice_id}/logout", headers=admin)).json() == {"ended": 1}
            await login(c, "alice")
            changed = await c.patch(f"/users/{alice_id}", json={"disabled": True, "roles": []}, headers=admin)
            assert changed.status_code == 200
            assert (await c.delete(f"/users/{alice_id}", headers=admin)).status_code == 204
            events = list(reversed(await _events(c, admin, user_id=alice_id)))
        admin_events = [e for e in events if e["event"].startswith("admin_")]  # type: ignore[attr-defined]
        assert [e["event"] for e in admin_events] == [
            "admin_user_create",
            "admin_sessions_end",
            "admin_user_update",
            "admin_user_delete",
        ]
        for e in admin_events:
            assert e["actor_id"] == admin_id and e["ip"] == "198.51.100.22", e
        assert admin_events[0]["detail"] == {"by": "admin"}
        assert admin_events[1]["detail"] == {"ended": 1, "by": "admin"}
        assert admin_events[2]["detail"] == {
            "changed": "roles,disabled",
            "roles": "",
            "disabled": True,
            "sessions_ended": 1,
            "by": "admin",
        }
        # The history outlives the account: the deletion names whom it deleted.
        assert admin_events[3]["detail"] == {"username": "alice", "by": "admin"}


async def test_refresh_reuse_is_recorded(database_url: str) -> None:
    async with started(database_url, refresh_grace_seconds=0) as app:
        admin = await make_admin(app)
        async with client_from(app, "198.51.100.22") as c:
            user_id = (await register(c, "alice"))["id"]
            tokens = await login(c, "alice")
            assert (await c.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 200
            reused = await c.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            assert reused.json()["code"] == "refresh_token_reused"
            (event,) = await _events(c, admin, event="refresh_reuse")
        assert event["user_id"] == user_id and event["outcome"] == "failure"


async def test_keyset_pages_newest_first_with_signed_cursors(database_url: str) -> None:
    async with started(database_url) as app:
        admin = await make_admin(app)
        async with client_from(app, "198.51.100.23") as c:
            for i in range(7):
                await c.post("/auth/login", json={"username": f"nobody{i}", "password": "wrong-password"})
            seen: list[str] = []
            cursor = None
            pages = 0
            while True:
                params = {"event": "login_failure", "limit": "3", **({"cursor": cursor} if cursor else {})}
                body = (await c.get("/audit", params=params, headers=admin)).json()
                seen += [e["id"] for e in body["items"]]
                pages += 1
                cursor = body["next_cursor"]
                if cursor is None:
                    break
            assert pages == 3 and len(seen) == 7 and seen == sorted(seen, reverse=True)
            everything = await _events(c, admin, limit="200")
            assert [e["id"] for e in everything if e["event"] == "login_failure"] == seen
            first = (await c.get("/audit", params={"event": "login_failure", "limit": "3"}, headers=admin)).json()
            other_filter = await c.get("/audit", params={"limit": "3", "cursor": first["next_cursor"]}, headers=admin)
            assert other_filter.status_code == 400 and other_filter.json()["code"] == "invalid_cursor"
            cursor = first["next_cursor"]
            # The tag's second-to-last character changed ("AA" in place of the last two was, now and then, the
            # cursor itself)
            tampered = cursor[:-2] + ("B" if cursor[-2] == "A" else "A") + cursor[-1]
            forged = await c.get("/audit", params={"cursor": tampered}, headers=admin)
            assert forged.status_code == 400 and forged.json()["code"] == "invalid_cursor"
            for bad in ({"user_id": "not-an-id"}, {"event": "coffee"}, {"limit": "0"}, {"limit": "201"}):
                response = await c.get("/audit", params=bad, headers=admin)
                assert response.status_code == 422, (bad, response.text)
