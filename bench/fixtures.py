"""Accounts and tokens the real-workload scenarios need: an admin, a page of users, one login per connection."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from httpclient import CheckFailed, call, expect

ADMIN = "bench-admin"
ADMIN_EMAIL = "bench-admin@example.com"
PASSWORD = "Bench-Password-7f3a"  # >= 8 characters and not a common password


def user_name(i: int) -> str:
    return f"bench-user-{i:03d}"


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str


def register_users(port: int, count: int, parallel: int = 4) -> None:
    def register(i: int) -> None:
        name = user_name(i)
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        expect(call(port, "POST", "/auth/register", body), 201, f"POST /auth/register ({name})")

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(register, range(count)))


def login(port: int, username: str, password: str = PASSWORD) -> Tokens:
    data = expect(
        call(port, "POST", "/auth/login", {"username": username, "password": password}), 200,
        f"POST /auth/login ({username})",
    )
    if not isinstance(data, dict):
        raise CheckFailed(f"POST /auth/login: expected an object, got {data!r}")
    access, refresh = data.get("access_token"), data.get("refresh_token")
    if not isinstance(access, str) or not isinstance(refresh, str) or data.get("token_type") != "Bearer":
        raise CheckFailed(f"POST /auth/login: expected access_token, refresh_token, token_type Bearer: {data!r}")
    return Tokens(access, refresh)


def login_many(port: int, usernames: list[str], parallel: int = 4) -> list[Tokens]:
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(lambda name: login(port, name), usernames))
