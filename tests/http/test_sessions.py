"""Session control: list, end one, end all, and password change ending the others."""

from __future__ import annotations

import httpx

from helpers import PASSWORD, bearer, login, register


async def test_list_and_end_sessions(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    laptop = await login(client, "alice")
    phone = await client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD}, headers={"user-agent": "Phone/1.0"}
    )
    phone_tokens = phone.json()
    listed = await client.get("/auth/sessions", headers=bearer(laptop["access_token"]))
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == 2
    assert [i["current"] for i in items].count(True) == 1
    assert {i["user_agent"] for i in items} >= {"Phone/1.0"}
    assert all(i["ip"] == "203.0.113.7" for i in items)
    phone_id = next(i["id"] for i in items if i["user_agent"] == "Phone/1.0")
    ended = await client.delete(f"/auth/sessions/{phone_id}", headers=bearer(laptop["access_token"]))
    assert ended.status_code == 204
    assert (await client.get("/auth/me", headers=bearer(phone_tokens["access_token"]))).status_code == 401
    assert (await client.get("/auth/me", headers=bearer(laptop["access_token"]))).status_code == 200
    again = await client.delete(f"/auth/sessions/{phone_id}", headers=bearer(laptop["access_token"]))
    assert again.status_code == 404 and again.json()["code"] == "session_not_found"


async def test_cannot_end_someone_elses_session(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    await register(client, "bob")
    alice = await login(client, "alice")
    bob = await login(client, "bob")
    bob_sessions = (await client.get("/auth/sessions", headers=bearer(bob["access_token"]))).json()["items"]
    response = await client.delete(f"/auth/sessions/{bob_sessions[0]['id']}", headers=bearer(alice["access_token"]))
    assert response.status_code == 404
    assert (await client.get("/auth/me", headers=bearer(bob["access_token"]))).status_code == 200
    for bad in ("not-an-id", "%00", "1' OR '1'='1"):
        assert (await client.delete(f"/auth/sessions/{bad}", headers=bearer(alice["access_token"]))).status_code == 404


async def test_logout_all(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    tokens = [await login(client, "alice") for _ in range(3)]
    kept = await client.post("/auth/logout-all", json={"keep_current": True}, headers=bearer(tokens[0]["access_token"]))
    assert kept.status_code == 200 and kept.json() == {"ended": 2}
    assert (await client.get("/auth/me", headers=bearer(tokens[0]["access_token"]))).status_code == 200
    assert (await client.get("/auth/me", headers=bearer(tokens[1]["access_token"]))).status_code == 401
    everything = await client.post("/auth/logout-all", headers=bearer(tokens[0]["access_token"]))
    assert everything.json() == {"ended": 1}
    assert (await client.get("/auth/me", headers=bearer(tokens[0]["access_token"]))).status_code == 401


async def test_change_password_ends_other_sessions(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    current = await login(client, "alice")
    other = await login(client, "alice")
    wrong = await client.post(
        "/auth/password",
        json={"current_password": "not-it-at-all", "new_password": "a-brand-new-secret"},
        headers=bearer(current["access_token"]),
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    weak = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=bearer(current["access_token"]),
    )
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "new_password"
    changed = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-brand-new-secret"},
        headers=bearer(current["access_token"]),
    )
    assert changed.status_code == 204
    assert (await client.get("/auth/me", headers=bearer(current["access_token"]))).status_code == 200
    assert (await client.get("/auth/me", headers=bearer(other["access_token"]))).status_code == 401
    assert (await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})).status_code == 401
    await login(client, "alice", "a-brand-new-secret")
