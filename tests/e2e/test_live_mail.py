"""The real server (`authgate serve`, Granian, 2 workers) sending real mail to a real SMTP server on 127.0.0.1:
verification and password reset end to end over HTTP; and, without a mail server, the development log line."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx

from liveserver import live_server
from mailserver import RESET, VERIFY, link_token, mail_server

PASSWORD = "a-long-and-unusual-passphrase"
NEW_PASSWORD = "another-long-and-unusual-passphrase"


async def test_verification_and_reset_over_smtp(database_url: str, tmp_path: Path) -> None:
    with mail_server() as smtp:
        env = {"AUTHGATE_DATABASE_URL": database_url, **smtp.env()}
        with live_server(env, tmp_path, workers=2) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                registered = await http.post(
                    "/auth/register", json={"username": "alice", "email": "alice@example.com", "password": PASSWORD}
                )
                assert registered.status_code == 201, registered.text
                verify = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=VERIFY))
                assert (await http.post("/auth/verify-email", json={"token": verify})).status_code == 204
                tokens = (await http.post("/auth/login", json={"username": "alice", "password": PASSWORD})).json()
                me = await http.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
                assert me.json()["email_verified"] is True

                assert (
                    await http.post("/auth/forgot-password", json={"email": "alice@example.com"})
                ).status_code == 202
                reset = link_token(await smtp.wait_for_mail(to="alice@example.com", subject=RESET))
                page = await http.get(f"/reset-password?token={reset}")
                assert page.status_code == 200 and 'name="new_password"' in page.text
                body = {"token": reset, "new_password": NEW_PASSWORD}
                assert (await http.post("/auth/reset-password", json=body)).status_code == 204
                ended = await http.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
                assert ended.status_code == 401
                again = await http.post("/auth/login", json={"username": "alice", "password": NEW_PASSWORD})
                assert again.status_code == 200
        log = server.output()
    assert verify not in log and reset not in log and PASSWORD not in log and NEW_PASSWORD not in log
    assert '"event":"mail_sent"' in log


async def test_without_a_mail_server_the_link_is_logged_in_development(sqlite_url: str, tmp_path: Path) -> None:
    """`make run`: the issuer is 127.0.0.1 and no AUTHGATE_SMTP_HOST, so the link lands in the log, once."""
    with live_server({"AUTHGATE_DATABASE_URL": sqlite_url}, tmp_path, workers=1) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            assert (
                await http.post(
                    "/auth/register", json={"username": "bob", "email": "bob@example.com", "password": PASSWORD}
                )
            ).status_code == 201
            deadline = time.monotonic() + 10
            while (match := re.search(r"/verify-email\?token=([A-Za-z0-9_-]{43})", server.output())) is None:
                assert time.monotonic() < deadline, server.output()
                await asyncio.sleep(0.05)
            assert (await http.post("/auth/verify-email", json={"token": match[1]})).status_code == 204
    assert server.output().count(match[1]) == 1
