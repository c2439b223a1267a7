"""Typed, validated, frozen settings, loaded once at start.

Sources, later ones winning: the defaults below, an optional TOML file (`AUTHGATE_CONFIG=path.toml`, keys are
the field names), then `AUTHGATE_<FIELD>` environment variables. A bad value stops the start with a
`ConfigError` that names the setting and the value.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from authgate.domain.ratelimits import DEFAULT_RATE_LIMITS, parse_rate_limits

ENV_PREFIX = "AUTHGATE_"

Seconds = Annotated[int, msgspec.Meta(ge=1)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class ConfigError(Exception):
    """A setting has a value authgate cannot run with."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Serving
    host: str = "127.0.0.1"
    port: Port = 8080
    workers: Annotated[int, msgspec.Meta(ge=0, le=512)] = 0
    """Worker processes; 0 means one per CPU core."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    shutdown_timeout: Seconds = 30
    trusted_proxies: tuple[str, ...] = ()
    """Peers (IP addresses or CIDR networks) whose X-Forwarded-For / X-Real-IP headers are believed."""
    bench_endpoints: bool = False
    """Expose GET /bench/io (a 10 ms sleep) for the benchmark suite; never in production."""

    # Storage
    database_url: str = "sqlite:///./authgate.db"
    database_replica_urls: tuple[str, ...] = ()
    database_pool_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10
    redis_url: str | None = None
    """redis://host:port/db (or rediss://, unix://); shared by every instance for rate limits and back-off."""
    redis_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = "authgate"
    """Prefix of every Redis key authgate writes (several deployments, or test runs, can share one Redis)."""
    redis_timeout_ms: Annotated[int, msgspec.Meta(ge=10, le=5000)] = 250
    """Past this, Redis counts as unreachable and limits fall back to in-process (so a dead Redis is not slow)."""

    # Tokens and sessions
    issuer: str = "http://127.0.0.1:8080"
    audience: str = "authgate"
    access_token_ttl: Seconds = 15 * 60
    refresh_token_ttl: Seconds = 14 * 24 * 3600
    """A refresh token unused for this long expires (the session's idle timeout)."""
    session_ttl: Seconds = 30 * 24 * 3600
    """A session ends this long after login, however active (the absolute timeout)."""
    refresh_grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=300)] = 10
    key_encryption_key: str | None = None
    """Base64 (urlsafe) of 32 random bytes; when set, private signing keys are stored encrypted with it."""

    # Passwords
    password_hash_memory_kib: Annotated[int, msgspec.Meta(ge=8, le=4 * 1024 * 1024)] = 19456
    password_hash_time_cost: Annotated[int, msgspec.Meta(ge=1, le=20)] = 2
    password_hash_parallelism: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    hash_pool_size: Annotated[int, msgspec.Meta(ge=0, le=256)] = 0
    """Threads that hash passwords; 0 means one per CPU core."""
    hash_queue_size: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 64
    """Hash jobs that may wait for a thread; past that, login answers 503 overloaded."""
    reject_common_passwords: bool = True

    # Accounts
    registration_open: bool = True
    roles: tuple[str, ...] = ("admin", "user")
    default_roles: tuple[str, ...] = ("user",)
    hide_account_existence: bool = False
    """`true`: registering a taken email answers 202 "check your email" like a new one (its owner is told)."""

    # Abuse resistance (docs/abuse.md)
    rate_limit_enabled: bool = True
    """Rate limits and login back-off; `false` only for benchmarks."""
    rate_limits: str = DEFAULT_RATE_LIMITS
    """`endpoint:scope=N/unit,...;...` for login, register, refresh, email by ip and account; each entry
    replaces that default, `=none` removes it."""
    login_backoff_after: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    """Login attempts at one account (since its last success) before each further one must wait 1, 2, 4, ... s."""
    login_backoff_max: Annotated[int, msgspec.Meta(ge=1, le=86400)] = 900
    """The longest back-off wait, seconds."""

    # Observability
    access_log: bool = True
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def __post_init__(self) -> None:
        if not self.database_url.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise ConfigError(
                f"AUTHGATE_DATABASE_URL={self.database_url!r}: expected sqlite:///path or postgresql://..."
            )
        if "admin" not in self.roles:
            raise ConfigError(f"AUTHGATE_ROLES={','.join(self.roles)!r}: the 'admin' role is required")
        from authgate.domain.users import ROLE_PATTERN

        for role in self.roles:
            if not ROLE_PATTERN.fullmatch(role):
                raise ConfigError(f"AUTHGATE_ROLES: {role!r} is not a role name (a-z, then up to 31 of a-z 0-9 _ -)")
        for role in self.default_roles:
            if role not in self.roles:
                raise ConfigError(f"AUTHGATE_DEFAULT_ROLES: {role!r} is not one of AUTHGATE_ROLES")
        if not self.issuer.startswith(("http://", "https://")):
            raise ConfigError(f"AUTHGATE_ISSUER={self.issuer!r}: expected an http(s) URL")
        if self.key_encryption_key is not None:
            from authgate.domain.keys import parse_key_encryption_key

            try:
                parse_key_encryption_key(self.key_encryption_key)
            except ValueError as exc:
                raise ConfigError(f"AUTHGATE_KEY_ENCRYPTION_KEY: {exc}") from None
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(f"AUTHGATE_TRUSTED_PROXIES: {proxy!r} is not an IP address or network") from None
        if self.session_ttl < self.access_token_ttl:
            raise ConfigError("AUTHGATE_SESSION_TTL must be at least AUTHGATE_ACCESS_TOKEN_TTL")
        try:
            parse_rate_limits(self.rate_limits)
        except ValueError as exc:
            raise ConfigError(f"AUTHGATE_RATE_LIMITS={self.rate_limits!r}: {exc}") from None
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"AUTHGATE_REDIS_URL={self.redis_url!r}: expected redis://host:port/db, rediss:// or unix://"
            )

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql:", "postgres:"))

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def hash_pool_threads(self) -> int:
        return self.hash_pool_size or os.cpu_count() or 1


_FIELDS: dict[str, Any] = {f.name: f for f in msgspec.structs.fields(Settings)}
_TUPLE_FIELDS = {name for name, f in _FIELDS.items() if str(f.type).startswith("tuple")}


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        if name in _TUPLE_FIELDS:
            values[name] = [part.strip() for part in raw.split(",") if part.strip()]
        elif raw == "" and _FIELDS[name].default is None:
            values[name] = None
        else:
            values[name] = raw
    return values


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"AUTHGATE_CONFIG={str(path)!r}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"AUTHGATE_CONFIG={str(path)!r}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return data


def load_settings(environ: Mapping[str, str] | None = None, /, **overrides: Any) -> Settings:
    """Build the settings from the environment (and the TOML file it names), then `overrides`."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_path = env.get(ENV_PREFIX + "CONFIG")
    if config_path:
        values.update(_from_file(Path(config_path)))
    values.update(_from_env(env))
    values.update(overrides)
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, values)) from None


def _explain(exc: msgspec.ValidationError, values: Mapping[str, Any]) -> str:
    message = str(exc)
    # msgspec says "... - at `$.port`" (or `$.roles[0]`); name the setting and the value the user gave.
    if " - at `$." in message:
        reason, _, where = message.rpartition(" - at `$.")
        name = where.rstrip("`").split("[", 1)[0]
        value = values.get(name)
        shown = ",".join(map(str, value)) if isinstance(value, list | tuple) else value
        return f"{ENV_PREFIX}{name.upper()}={shown!r}: {reason}"
    return message
