"""Two-step login in tests: the authenticator's codes, setting one up over the API, and the login's two steps."""

from __future__ import annotations

import time

import httpx
import pyotp

from helpers import PASSWORD, assert_problem, bearer


def code(secret: str, steps_ahead: int = 0) -> str:
    """The authenticator's code for the current 30-second step, or one `steps_ahead` of it (the server accepts
    one step either side)."""
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(time.time()) + steps_ahead)


async def enable(client: httpx.AsyncClient, token: str) -> tuple[str, list[str]]:
    """Set up and confirm an authenticator for the token's user: its secret and the recovery codes."""
    enrolled = await client.post("/auth/mfa/totp", json={"password": PASSWORD}, headers=bearer(token))
    assert enrolled.status_code == 201, enrolled.text
    secret: str = enrolled.json()["secret"]
    confirmed = await client.post("/auth/mfa/totp/confirm", json={"code": code(secret)}, headers=bearer(token))
    assert confirmed.status_code == 200, confirmed.text
    codes: list[str] = confirmed.json()["recovery_codes"]
    return secret, codes


async def mfa_token(client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD) -> str:
    response = await client.post("/auth/login", json={"username": username, "password": password})
    problem = assert_problem(response, 403, "mfa_required")
    assert "access_token" not in problem and "refresh_token" not in problem
    assert problem["expires_in"] == 300
    token: str = problem["mfa_token"]
    return token


async def second_step(client: httpx.AsyncClient, token: str, typed: str) -> httpx.Response:
    return await client.post("/auth/login/mfa", json={"mfa_token": token, "code": typed})
