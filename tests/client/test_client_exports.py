"""The public API of authgate.client is a contract, and importing it pulls in no server or framework code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import authgate.client

PUBLIC = {
    "AuthgateUnavailable",
    "Claims",
    "ClientError",
    "ExpiredToken",
    "Forbidden",
    "HttpxTransport",
    "InvalidToken",
    "KeySet",
    "MissingToken",
    "RevokedToken",
    "TokenVerifier",
    "Transport",
    "UnknownKey",
    "parse_jwks",
    "verify",
}
SERVER_ONLY = {"granian", "asyncpg", "redis", "argon2", "uvloop"}
FRAMEWORKS = {"flask", "fastapi", "starlette", "werkzeug", "pydantic"}


def test_exported_members() -> None:
    assert set(authgate.client.__all__) == PUBLIC
    for name in PUBLIC:
        member = getattr(authgate.client, name)
        assert member.__module__.startswith("authgate.client."), name


def _imported_after(module: str) -> set[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("authgate.client", SERVER_ONLY | FRAMEWORKS),
        ("authgate.client.flask", SERVER_ONLY | {"fastapi", "starlette", "pydantic"}),
        ("authgate.client.fastapi", SERVER_ONLY | {"flask"}),
    ],
)
def test_importing_pulls_in_no_server_and_no_other_framework(module: str, forbidden: set[str]) -> None:
    imported = _imported_after(module)
    assert {name.split(".")[0] for name in imported} & forbidden == set()
    server_modules = {
        name for name in imported if name.startswith("authgate.") and not name.startswith("authgate.client")
    }
    assert server_modules == set()
