"""Abuse resistance over HTTP, in process: rate limits, login back-off and its reset by a known device,
no account enumeration through any of it, and hidden account existence at registration."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

from abuse_helpers import client_from, make_admin, problem_shape, started
from authgate.app import App
from authgate.domain.clients import ClientInfo
from authgate.domain.users import User
from helpers import PASSWORD, register

WRONG = "not-the-password-at-all"


async def _login(c: httpx.AsyncClient, name: str, password: str, **extra: Any) -> httpx.Response:
    return await c.post("/auth/login", json={"username": name, "password": password, **extra})


def _assert_rate_limited(response: httpx.Response, at_most: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= at_most


async def test_login_is_limited_per_ip_before_the_body_is_read(database_url: str) -> None:
    async with (
        started(database_url, rate_limits="login:ip=3/minute") as app,
        client_from(app, "198.51.100.1") as c,
        client_from(app, "198.51.100.2") as other,
    ):
        await register(c, "alice")
        statuses = [(await _login(c, "alice", WRONG)).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        _assert_rate_limited(await _login(c, "alice", PASSWORD), 60)
        # Refused before the body is read: even a malformed one.
        bad = await c.post("/auth/login", content=b"{", headers={"content-type": "application/json"})
        _assert_rate_limited(bad, 60)
        assert (await _login(other, "alice", PASSWORD)).status_code == 200


async def test_register_and_refresh_are_limited_per_ip(database_url: str) -> None:
    settings = {"rate_limits": "register:ip=2/hour;refresh:ip=2/minute"}
    async with started(database_url, **settings) as app, client_from(app, "198.51.100.3") as c:
        await register(c, "alice")
        await register(c, "bob")
        third = await c.post(
            "/auth/register", json={"username": "carol", "email": "c@example.com", "password": PASSWORD}
        )
        _assert_rate_limited(third, 3600)
        tokens = (await _login(c, "alice", PASSWORD)).json()
        first = await c.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert first.status_code == 200
        await c.post("/auth/refresh", json={"refresh_token": "garbage"})
        _assert_rate_limited(await c.post("/auth/refresh", json={"refresh_token": first.json()["refresh_token"]}), 60)


async def test_the_account_limit_treats_unknown_accounts_like_known_ones(database_url: str) -> None:
    settings = {"rate_limits": "login:ip=1000/minute,account=3/hour", "login_backoff_after": 100}
    async with started(database_url, **settings) as app:
        async with client_from(app, "198.51.100.4") as c:
            await register(c, "alice")
        known, unknown = [], []
        for i in range(5):  # from a new address each time: only the account limit applies
            async with client_from(app, f"203.0.113.{i + 10}") as c:
                known.append(problem_shape(await _login(c, "alice", WRONG)))
                unknown.append(problem_shape(await _login(c, "nobody-here", WRONG)))
        assert [s[0] for s in known] == [401, 401, 401, 429, 429]
        assert known == unknown  # same status, code, Retry-After and detail: nothing tells them apart
        # Case and Unicode variants of a login are the same account key.
        async with client_from(app, "203.0.113.99") as c:
            assert (await _login(c, "ALICE", PASSWORD)).status_code == 429
            assert (await _login(c, "\uff41lice", PASSWORD)).status_code == 429


async def test_backoff_engages_and_a_known_device_gets_through_and_resets_it(database_url: str) -> None:
    settings = {"rate_limits": "login:ip=1000/minute,account=1000/hour", "login_backoff_after": 3}
    async with started(database_url, **settings) as app:
        async with client_from(app, "198.51.100.5") as phone:
            await register(phone, "alice")
            first = await _login(phone, "alice", PASSWORD)
            device_token = first.json()["device_token"]
        async with client_from(app, "203.0.113.66") as attacker:
            for _ in range(3):
                assert (await _login(attacker, "alice", WRONG)).status_code == 401
            _assert_rate_limited(await _login(attacker, "alice", WRONG), 1)
            # The right password from an unknown client is refused too while the back-off lasts:
            # the guard decides before any hashing, so the answer cannot depend on the password.
            _assert_rate_limited(await _login(attacker, "alice", PASSWORD), 1)
            _assert_rate_limited(await _login(attacker, "alice", PASSWORD, device_token="forged.1.x.y"), 1)
        async with client_from(app, "198.51.100.5") as phone:
            ok = await _login(phone, "alice", PASSWORD, device_token=device_token)
            assert ok.status_code == 200, ok.text
            assert ok.json()["device_token"] != device_token
        async with client_from(app, "203.0.113.67") as anyone:
            assert (await _login(anyone, "alice", WRONG)).status_code == 401  # the success reset the back-off
        admin = await make_admin(app)
        async with client_from(app, "192.0.2.250") as c:
            audit = (await c.get("/audit", params={"event": "lockout"}, headers=admin)).json()["items"]
        assert len(audit) == 1 and audit[0]["outcome"] == "failure" and audit[0]["ip"] == "203.0.113.66"
        assert audit[0]["detail"] == {"attempts": 3, "known_device": False}


async def test_a_device_token_backs_off_on_its_own(database_url: str) -> None:
    settings = {"rate_limits": "login:ip=1000/minute,account=1000/hour", "login_backoff_after": 2}
    async with started(database_url, **settings) as app, client_from(app, "198.51.100.6") as c:
        await register(c, "alice")
        stolen = (await _login(c, "alice", PASSWORD)).json()["device_token"]
        # Two wrong guesses with the token count on the token, not on the account ...
        assert [(await _login(c, "alice", WRONG, device_token=stolen)).status_code for _ in range(2)] == [401, 401]
        # ... then the token is backed off and the attempt is gated like any other: the account's
        # own allowance, then the account's back-off.
        assert [(await _login(c, "alice", WRONG, device_token=stolen)).status_code for _ in range(2)] == [401, 401]
        _assert_rate_limited(await _login(c, "alice", WRONG, device_token=stolen), 1)


async def test_a_device_token_is_bound_to_its_account_and_password(database_url: str) -> None:
    settings = {"rate_limits": "login:ip=1000/minute,account=1000/hour", "login_backoff_after": 1}
    async with started(database_url, **settings) as app, client_from(app, "198.51.100.7") as c:
        await register(c, "alice")
        await register(c, "bob")
        bobs = (await _login(c, "bob", PASSWORD)).json()["device_token"]
        alices = (await _login(c, "alice", PASSWORD)).json()
        assert (await _login(c, "alice", WRONG)).status_code == 401
        _assert_rate_limited(await _login(c, "alice", PASSWORD, device_token=bobs), 1)
        changed = await c.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": "a-brand-new-secret"},
            headers={"Authorization": f"Bearer {alices['access_token']}"},
        )
        assert changed.status_code == 204
        # The old device token died with the old password.
        _assert_rate_limited(await _login(c, "alice", "a-brand-new-secret", device_token=alices["device_token"]), 1)


async def test_hidden_account_existence_at_registration(database_url: str) -> None:
    async with started(database_url, hide_account_existence=True) as app:
        told: list[tuple[User, ClientInfo]] = []

        async def tell(owner: User, client: ClientInfo) -> None:
            told.append((owner, client))

        app.services.auth.on_existing_account = tell
        async with client_from(app, "198.51.100.8") as c:
            new = await c.post(
                "/auth/register", json={"username": "alice", "email": "a@example.com", "password": PASSWORD}
            )
            taken = await c.post(
                "/auth/register", json={"username": "mallory", "email": "A@example.com", "password": PASSWORD}
            )
            assert (
                (new.status_code, new.json())
                == (taken.status_code, taken.json())
                == (202, {"status": "check_your_email"})
            )
            assert "location" not in new.headers
            # Usernames are public handles: a taken one is still a conflict (it reveals no email).
            name = await c.post(
                "/auth/register", json={"username": "ALICE", "email": "x@example.com", "password": PASSWORD}
            )
            assert name.status_code == 409 and name.json()["code"] == "username_taken"
            assert (await _login(c, "alice", PASSWORD)).status_code == 200
            assert (await _login(c, "mallory", PASSWORD)).status_code == 401
        assert [(u.username, ci.ip) for u, ci in told] == [("alice", "198.51.100.8")]
        admin = await make_admin(app)
        async with client_from(app, "192.0.2.250") as c:
            alice_id = told[0][0].id
            events = (await c.get("/audit", params={"user_id": alice_id, "event": "register"}, headers=admin)).json()
        assert [(e["outcome"], e["detail"]) for e in events["items"]] == [
            ("failure", {"reason": "email_taken"}),
            ("success", {}),
        ]


async def test_without_hiding_a_taken_email_is_a_conflict(app: App, client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    taken = await client.post(
        "/auth/register", json={"username": "bob", "email": "alice@example.com", "password": PASSWORD}
    )
    assert taken.status_code == 409 and taken.json()["code"] == "email_taken"


async def test_ready_says_where_limits_are_counted(database_url: str) -> None:
    async with started(database_url) as app, client_from(app, "192.0.2.1") as c:
        ready = (await c.get("/health/ready")).json()
        assert ready["status"] == "ok" and ready["checks"]["rate_limits"] == "ok: in-process (no redis configured)"
    async with started(database_url, rate_limit_enabled=False) as app, client_from(app, "192.0.2.1") as c:
        assert (await c.get("/health/ready")).json()["checks"]["rate_limits"] == "disabled"
        for _ in range(30):
            await c.post("/auth/login", json={"username": "x", "password": WRONG})
        assert (await c.post("/auth/login", json={"username": "x", "password": WRONG})).status_code == 401


async def test_a_login_that_finds_the_hash_pool_full_is_refused_before_the_account_is_looked_up(
    database_url: str,
) -> None:
    # A login storm: every thread hashing and the queue full. A login that cannot be hashed answers 503 at once
    # (after the shed delay), without the query for the account first: a refusal should cost nothing else.
    async with started(database_url, hash_pool_size=1, hash_queue_size=0) as app, client_from(app, "198.51.100.9") as c:
        await register(c, "alice")
        auth = app.services.auth
        gate = threading.Event()
        busy = asyncio.ensure_future(auth.pool.run(gate.wait, 5))
        await asyncio.sleep(0)
        lookups = 0
        reader = auth.db.reader

        def counting_reader() -> Any:
            nonlocal lookups
            lookups += 1
            return reader()

        auth.db.reader = counting_reader  # type: ignore[method-assign]
        try:
            for name in ("alice", "nobody"):
                refused = await _login(c, name, PASSWORD)
                assert refused.status_code == 503, refused.text
                assert refused.json()["code"] == "overloaded" and "retry-after" in refused.headers
            assert lookups == 0
        finally:
            gate.set()
            await busy
            auth.db.reader = reader  # type: ignore[method-assign]
        assert (await _login(c, "alice", PASSWORD)).status_code == 200


async def test_a_stolen_session_cannot_guess_the_password(database_url: str) -> None:
    """Every check of a signed-in user's password (change it, change the email, two-step setup, delete the account)
    is behind the account's own back-off and `password:account` limit, apart from the login's: a thief holding
    the session is slowed down, and its owner still signs in."""
    settings = {"rate_limits": "password:account=10/hour", "login_backoff_after": 3}
    async with started(database_url, **settings) as app, client_from(app, "203.0.113.70") as thief:
        await register(thief, "alice")
        token = (await _login(thief, "alice", PASSWORD)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        guesses = [
            ("POST", "/auth/password", {"current_password": WRONG, "new_password": "a new long passphrase"}),
            ("PATCH", "/auth/me", {"email": "thief@example.com", "current_password": WRONG}),
            ("POST", "/auth/mfa/totp", {"password": WRONG}),
        ]
        for method, path, body in guesses:
            response = await thief.request(method, path, json=body, headers=auth)
            assert response.status_code == 422, (path, response.text)
        # Three wrong in a row: the next check waits, whatever the password, before any hashing.
        _assert_rate_limited(await thief.request("DELETE", "/auth/me", json={"password": WRONG}, headers=auth), 1)
        _assert_rate_limited(await thief.post("/auth/mfa/totp", json={"password": PASSWORD}, headers=auth), 1)
        # The login's back-off is another: the owner signs in at once.
        assert (await _login(thief, "alice", PASSWORD)).status_code == 200
        await asyncio.sleep(1.1)
        enrolled = await thief.post("/auth/mfa/totp", json={"password": PASSWORD}, headers=auth)
        assert enrolled.status_code == 201, enrolled.text  # and a right password resets the back-off
        for _ in range(3):
            response = await thief.post("/auth/mfa/totp", json={"password": WRONG}, headers=auth)
            assert response.status_code == 422
        await asyncio.sleep(1.1)
        again = await thief.post("/auth/mfa/totp", json={"password": PASSWORD}, headers=auth)
        assert again.status_code == 201, again.text
        # Ten checks this hour (the refused ones count): the account's limit, right password or not.
        _assert_rate_limited(await thief.post("/auth/mfa/totp", json={"password": PASSWORD}, headers=auth), 3600)
        # Every wrong password was audited with what it was for; the refused checks never reached a hash.
        admin = await make_admin(app)
        audit = (await thief.get("/audit", params={"event": "reauth_failure"}, headers=admin)).json()["items"]
        assert [e["detail"]["for"] for e in reversed(audit)] == ["change_password", "change_email", *["mfa_setup"] * 4]
        assert all(e["outcome"] == "failure" and e["ip"] == "203.0.113.70" for e in audit)
        # Each third wrong password in a row engaged the back-off: a lockout, saying what the check was for.
        lockouts = (await thief.get("/audit", params={"event": "lockout"}, headers=admin)).json()["items"]
        assert [e["detail"] for e in lockouts] == [{"attempts": 3, "for": "mfa_setup"}] * 2
        assert all(e["outcome"] == "failure" and e["ip"] == "203.0.113.70" for e in lockouts)
