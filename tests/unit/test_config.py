"""Settings: typed, validated at start, errors naming the setting and the value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from authgate.config import ConfigError, load_settings


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite:///./authgate.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.password_hash_memory_kib == 19456 and settings.password_hash_time_cost == 2
    assert (settings.header_read_timeout, settings.body_read_timeout) == (30, 30)  # Granian's own header default


@pytest.mark.parametrize(
    ("env", "issuer"),
    [
        ({}, "http://127.0.0.1:8080"),
        ({"AUTHGATE_PORT": "8181"}, "http://127.0.0.1:8181"),  # `authgate serve --port 8181` sets it so
        ({"AUTHGATE_HOST": "0.0.0.0", "AUTHGATE_PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"AUTHGATE_HOST": "::"}, "http://[::1]:8080"),
        ({"AUTHGATE_HOST": "10.0.0.5"}, "http://10.0.0.5:8080"),
        ({"AUTHGATE_HOST": "0.0.0.0", "AUTHGATE_ISSUER": "https://id.example"}, "https://id.example"),
    ],
)
def test_the_issuer_is_the_address_served_unless_set(env: dict[str, str], issuer: str) -> None:
    """Discovery, tokens and mailed links must point where the server answers: a server moved to another port
    used to announce `http://127.0.0.1:8080` anyway, and its JWKS URL led nowhere."""
    assert load_settings(env).issuer == issuer


def test_environment_is_typed() -> None:
    settings = load_settings(
        {"AUTHGATE_PORT": "9000", "AUTHGATE_ACCESS_LOG": "false", "AUTHGATE_TRUSTED_PROXIES": "10.0.0.0/8, ::1"}
    )
    assert settings.port == 9000 and settings.access_log is False
    assert settings.trusted_proxies == ("10.0.0.0/8", "::1")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"AUTHGATE_PORT": "eighty"}, ["AUTHGATE_PORT", "eighty"]),
        ({"AUTHGATE_PORT": "70000"}, ["AUTHGATE_PORT", "70000"]),
        ({"AUTHGATE_WORKERS": "-1"}, ["AUTHGATE_WORKERS"]),
        ({"AUTHGATE_ACCESS_LOG": "perhaps"}, ["AUTHGATE_ACCESS_LOG", "perhaps"]),
        ({"AUTHGATE_LOG_FORMAT": "xml"}, ["AUTHGATE_LOG_FORMAT", "xml"]),
        ({"AUTHGATE_ACCESS_LOG_SAMPLE": "0"}, ["AUTHGATE_ACCESS_LOG_SAMPLE", "0"]),
        ({"AUTHGATE_ACCESS_LOG_SAMPLE": "1.5"}, ["AUTHGATE_ACCESS_LOG_SAMPLE", "1.5"]),
        ({"AUTHGATE_ACCESS_LOG_SAMPLE": "half"}, ["AUTHGATE_ACCESS_LOG_SAMPLE", "half"]),
        ({"AUTHGATE_DATABASE_URL": "mysql://db"}, ["AUTHGATE_DATABASE_URL", "mysql://db"]),
        ({"AUTHGATE_ROLES": "user,editor"}, ["AUTHGATE_ROLES"]),
        ({"AUTHGATE_DEFAULT_ROLES": "boss"}, ["AUTHGATE_DEFAULT_ROLES", "boss"]),
        ({"AUTHGATE_TRUSTED_PROXIES": "not-an-ip"}, ["AUTHGATE_TRUSTED_PROXIES", "not-an-ip"]),
        ({"AUTHGATE_KEY_ENCRYPTION_KEY": "c2hvcnQ"}, ["AUTHGATE_KEY_ENCRYPTION_KEY"]),
        ({"AUTHGATE_ISSUER": "ftp://x"}, ["AUTHGATE_ISSUER", "ftp://x"]),
        ({"AUTHGATE_HEADER_READ_TIMEOUT": "0"}, ["AUTHGATE_HEADER_READ_TIMEOUT", "0"]),
        ({"AUTHGATE_BODY_READ_TIMEOUT": "soon"}, ["AUTHGATE_BODY_READ_TIMEOUT", "soon"]),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    for name in names:
        assert name in str(info.value)


def test_toml_file_and_env_override(tmp_path: Path) -> None:
    path = tmp_path / "authgate.toml"
    path.write_text('port = 9100\nissuer = "https://id.example"\nroles = ["admin", "user", "editor"]\n')
    settings = load_settings({"AUTHGATE_CONFIG": str(path), "AUTHGATE_PORT": "9200"})
    assert settings.port == 9200 and settings.issuer == "https://id.example"
    assert settings.roles == ("admin", "user", "editor")
    path.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="colour"):
        load_settings({"AUTHGATE_CONFIG": str(path)})
    path.write_text("port = [\n")
    with pytest.raises(ConfigError, match="TOML"):
        load_settings({"AUTHGATE_CONFIG": str(path)})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({"AUTHGATE_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_worker_and_hash_thread_counts_follow_the_cpus_this_process_may_use() -> None:
    """Under `taskset -c 0` (or a container's cpuset) the default is one worker and one hash thread, not one per
    CPU of the machine."""
    script = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from authgate.config import load_settings; s = load_settings({});"
        "print(s.worker_count(), s.hash_pool_threads())"
    )
    confined = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert confined.stdout.split() == ["1", "1"]
    settings = load_settings({})
    assert settings.worker_count() == settings.hash_pool_threads() == len(os.sched_getaffinity(0))
