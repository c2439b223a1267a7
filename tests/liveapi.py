"""A real `authgate serve` with an admin, its OpenAPI document and a raw-socket address: the reliability tests'
target. Each test module starts its own (per backend) with `serve()` in a module-scoped fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from helpers import PASSWORD
from liveserver import LiveServer, authgate, live_server

ADMIN = "root"
FIGURES = Path(__file__).resolve().parents[1] / "test-output" / "reliability"


@dataclass
class Target:
    server: LiveServer
    env: dict[str, str]
    backend: str
    """"sqlite" or "postgres"."""
    admin: dict[str, str]
    """The Authorization header of an admin."""
    openapi: dict[str, Any]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def documented(self, method: str, template: str, status: int, code: str) -> bool:
        """Whether the OpenAPI document lists this problem code for this status of this operation."""
        responses = self.openapi["paths"][template][method.lower()]["responses"]
        schema = responses.get(str(status), {}).get("content", {}).get("application/problem+json", {}).get("schema")
        return schema is not None and code in schema["properties"]["code"]["enum"]

    def assert_no_errors(self) -> None:
        """No request ended in an unhandled error (a 500) or a traceback, in any worker."""
        log = self.server.output()
        assert "unhandled error" not in log and "Traceback" not in log, log[-5000:]


@contextlib.contextmanager
def serve(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, *, workers: int = 2, env: dict[str, str] | None = None
) -> Iterator[Target]:
    """`authgate serve` on a new SQLite file or PostgreSQL database, with an admin made by the CLI."""
    if backend == "postgres":
        database_url = request.getfixturevalue("postgres_databases").create()
    else:
        database_url = f"sqlite:///{tmp_path}/authgate.db"
    full_env = {"AUTHGATE_DATABASE_URL": database_url, "AUTHGATE_ACCESS_LOG": "false", **(env or {})}
    created = authgate(
        "create-user", ADMIN, "--email", f"{ADMIN}@example.com", "--admin", "--password-stdin",
        env=full_env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    with live_server(full_env, tmp_path, workers=workers) as server:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            response = c.post("/auth/login", json={"username": ADMIN, "password": PASSWORD})
            assert response.status_code == 200, response.text
            admin = {"Authorization": f"Bearer {response.json()['access_token']}"}
            openapi = c.get("/openapi.json").json()
        target = Target(server, full_env, backend, admin, openapi)
        yield target
        target.assert_no_errors()


def sql(target: Target, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    """The rows of `statement` (placeholders $1, $2, ...), read directly from the target's database."""
    url = target.env["AUTHGATE_DATABASE_URL"]
    if target.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            return [tuple(row) for row in db.execute(re.sub(r"\$\d+", "?", statement), args)]

    async def fetch() -> list[tuple[Any, ...]]:
        import asyncpg

        db = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await db.fetch(statement, *args)]
        finally:
            await db.close()

    return asyncio.run(fetch())


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Keep what a test measured in test-output/reliability/<name>.json (and print it, for `pytest -s`)."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"{name}.json"
    text = json.dumps(figures, indent=2, sort_keys=True)
    path.write_text(text + "\n")
    print(f"\n{name} ({os.environ.get('PYTEST_XDIST_WORKER', 'main')}): {text}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
