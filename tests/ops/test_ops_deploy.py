"""deploy/ stays true: nginx accepts nginx.conf, systemd accepts the unit, the env example loads, and the Grafana
dashboard asks only for metrics authgate exports."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec
import pytest

from abuse_helpers import client_from, started
from authgate.config import ENV_PREFIX, Settings, load_settings
from helpers import PASSWORD, bearer, login, register
from nginxproxy import deploy_main_conf, deploy_site, nginx_binary

DEPLOY = Path(__file__).parents[2] / "deploy"


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (DEPLOY / "authgate.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_the_env_example_is_valid_and_names_only_real_settings() -> None:
    env = env_example()
    fields = {ENV_PREFIX + f.name.upper() for f in msgspec.structs.fields(Settings)}
    unknown = sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in fields)
    assert unknown == []
    settings = load_settings(env)
    assert settings.is_postgres and settings.redis_url and settings.metrics_port
    assert settings.trusted_proxies == ("127.0.0.1",)


def test_the_unit_waits_longer_than_the_drain_and_reads_the_env_file() -> None:
    unit = (DEPLOY / "authgate.service").read_text()
    stop = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))  # type: ignore[union-attr]
    assert stop > int(env_example()["AUTHGATE_SHUTDOWN_TIMEOUT"])
    assert "EnvironmentFile=/etc/authgate/authgate.env" in unit


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    authgate = Path(sys.executable).parent / "authgate"
    unit = tmp_path / "authgate.service"
    unit.write_text((DEPLOY / "authgate.service").read_text().replace("/opt/authgate/bin/authgate", str(authgate)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "authgate.service" not in result.stderr, result.stderr  # no warning about the unit itself


def test_nginx_accepts_the_site_config(tmp_path: Path) -> None:
    binary = nginx_binary()
    main = deploy_main_conf(tmp_path, deploy_site(tmp_path))
    result = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-c", str(main), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


async def test_the_dashboard_asks_only_for_exported_metrics(sqlite_url: str) -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    wanted = {name for e in exprs for name in re.findall(r"\b(authgate_[a-z_]+)", e)}
    assert len(wanted) >= 10
    overrides = {"hash_pool_size": 1, "hash_queue_size": 0}
    async with started(sqlite_url, **overrides) as app, client_from(app, "203.0.113.7") as client:
        await register(client, "alice")
        pair = await login(client, "alice")
        await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        await client.post("/auth/logout", headers=bearer(pair["access_token"]))
        await _overload(client)
        assert app.metrics is not None
        await app.metrics.count_sessions()
        text = (await client.get("/metrics")).text
    exported = set(re.findall(r"^(authgate_[a-z_]+)", text, re.M))
    assert sorted(wanted - exported) == []


async def _overload(client: httpx.AsyncClient) -> None:
    """Enough concurrent logins on a one-thread, no-queue hash pool that some are refused."""
    await asyncio.gather(
        *(client.post("/auth/login", json={"username": "alice", "password": PASSWORD}) for _ in range(8))
    )
