"""Typed, validated, frozen settings, loaded once at start.

Sources, later ones winning: the defaults below, an optional TOML file (`AUTHGATE_CONFIG=path.toml`, keys are
the field names), then `AUTHGATE_<FIELD>` environment variables. A bad value stops the start with a
`ConfigError` that names the setting and the value.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

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
    """Worker processes; 0 means one per CPU this process may use."""
    worker_scheduling: Literal["batch", "normal"] = "batch"
    """The workers' scheduling policy on Linux while they serve: `batch` (SCHED_BATCH: a thread that wakes does
    not preempt the one running, so on a busy core Granian's I/O threads and the event loop take turns instead of
    interrupting each other mid-request) or `normal` (SCHED_OTHER). The hashing threads keep their own."""
    worker_concurrency: Annotated[int, msgspec.Meta(ge=1, le=65536)] = 1024
    """Requests one worker handles at once (Granian's backpressure); a request past it waits, unread, until one
    of them ends. More in flight than this made each one slower, not more of them done: at 3,000 connections of
    a 10 ms I/O endpoint, 1024 served more requests a second than 2048 (Granian's default with our backlog)."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    header_read_timeout: Seconds = 30
    """A client must send a request's headers within this many seconds; a connection that sends nothing, or
    a kept-alive one idle, is closed after it (Granian's HTTP/1 header read timeout)."""
    body_read_timeout: Seconds = 30
    """A client must send a request's whole body within this many seconds of authgate starting to read it;
    past it, 408 request_timeout and the connection is closed."""
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
    redis_pool_size: Annotated[int, msgspec.Meta(ge=1, le=256)] = 8
    """Redis connections per worker, opened at start; calls beyond them wait for one (a burst opens none)."""

    # Tokens and sessions
    issuer: str = ""
    """The public base URL: the `iss` of every token, and the base of the discovery document's URLs and of mailed
    links. Unset, the address served (`http://127.0.0.1:8080` by default; a wildcard host reads as loopback), so
    that `--port` alone gives a working development server; a deployment sets it, one URL for all its instances."""
    audience: str = "authgate"
    access_token_ttl: Seconds = 15 * 60
    refresh_token_ttl: Seconds = 14 * 24 * 3600
    """A refresh token unused for this long expires (the session's idle timeout)."""
    session_ttl: Seconds = 30 * 24 * 3600
    """A session ends this long after login, however active (the absolute timeout)."""
    refresh_grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=300)] = 10
    retention_sweep_interval: Annotated[int, msgspec.Meta(ge=0, le=7 * 24 * 3600)] = 3600
    """Each serving worker deletes what is over about this often, in small batches: sessions ended or expired, with
    their refresh tokens, and audit events past their retention (domain/retention.py); 0: never (run `authgate
    cleanup` from cron instead)."""
    audit_retention_days: Annotated[int, msgspec.Meta(ge=0, le=36500)] = 365
    """Audit events older than this many days are deleted by the sweep; 0 keeps them for ever."""
    session_cache_ttl: Annotated[int, msgspec.Meta(ge=0, le=300)] = 10
    """On PostgreSQL, each worker answers "is this session still valid?" from memory for sessions it checked in
    the last this many seconds, forgetting one as soon as the database says it changed (domain/session_cache.py);
    0: every request asks the database."""
    key_encryption_key: str | None = None
    """Base64 (urlsafe) of 32 random bytes; when set, private signing keys and TOTP secrets are stored encrypted
    with it."""
    mfa_issuer_name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "authgate"
    """The name an authenticator app shows beside the account's codes (the `issuer` of the `otpauth://` URI), and
    the one a passkey prompt shows (the relying party's name)."""
    passkey_rp_id: str = ""
    """The domain passkeys are bound to (the WebAuthn relying party id): the issuer's host, or a parent domain of
    it to share passkeys with sibling hosts. Unset: the issuer's host; passkeys are off when that is an IP address
    (browsers refuse one: use `http://localhost:8080` as the issuer in development)."""
    passkey_origins: tuple[str, ...] = ()
    """The origins (`https://host[:port]`) whose pages may use the passkeys, each on the relying party's domain (a
    start-up error otherwise: browsers would refuse); unset: the issuer's."""

    # Passwords
    password_hash_memory_kib: Annotated[int, msgspec.Meta(ge=8, le=4 * 1024 * 1024)] = 19456
    password_hash_time_cost: Annotated[int, msgspec.Meta(ge=1, le=20)] = 2
    password_hash_parallelism: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    hash_pool_size: Annotated[int, msgspec.Meta(ge=0, le=256)] = 0
    """Threads that hash passwords, per worker; 0 means one per CPU this process may use."""
    hash_queue_size: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 64
    """Hash jobs that may wait for a thread; past that, login answers 503 overloaded."""
    hash_thread_priority: Literal["idle", "low", "normal"] = "idle"
    """The hashing threads' priority on Linux: `idle` (SCHED_IDLE: only the CPU nothing else wants; requests
    never wait for a hash's time slice), `low` (niceness 19), `normal` (the event loop's)."""
    hash_memory_release_after: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 10.0
    """Seconds without a hash after which each hashing thread gives back the memory its last hash used (glibc on
    Linux; argon2id's 19 MiB a thread, which the next hash would otherwise reuse); 0 keeps it."""
    reject_common_passwords: bool = True

    admin_requires_second_factor: bool = False
    """The admin API answers 403 `second_factor_required` to an admin whose session did not start with two-step
    login or a passkey (the `amr` of its tokens lacks `mfa`); the command line is not affected."""

    # Accounts
    registration_open: bool = True
    roles: tuple[str, ...] = ("admin", "user")
    default_roles: tuple[str, ...] = ("user",)
    hide_account_existence: bool = False
    """`true`: registering a taken email answers 202 "check your email" like a new one (its owner is told)."""
    email_login: bool = False
    """`true`: anyone may ask for a sign-in link mailed to their account's address (`POST /auth/login/email`, the
    sign-in page's "Email me a sign-in link"); the link signs in once, then asks for the code of two-step login if
    it is on."""
    email_login_ttl: Seconds = 15 * 60
    """A sign-in link expires this long after it was mailed."""

    # Email (docs/email.md)
    smtp_host: str | None = None
    """The mail server; unset: mails are not sent but written to the log, links included, and only when the
    issuer is a loopback address (development: `make run`); otherwise without their links."""
    smtp_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    """Upgrade the connection with STARTTLS (the server's certificate is verified); refuse to send without it."""
    smtp_ssl: bool = False
    """Implicit TLS from the first byte (usually port 465) instead of STARTTLS."""
    smtp_ca_file: str | None = None
    """A PEM file of the CA certificates to trust for the mail server (default: the system's)."""
    smtp_timeout: Annotated[int, msgspec.Meta(ge=1, le=300)] = 10
    mail_from: str = "authgate <no-reply@localhost>"
    """The From of every mail: `address` or `Name <address>`."""
    mail_dir: str | None = None
    """Instead of a mail server: write each mail as an .eml file into this folder (development and tests)."""
    mail_templates_dir: str | None = None
    """A folder of mail templates (`<name>.txt`, `<name>.html`, `base.html`) that replace the built-in ones of
    the same name (docs/email.md)."""
    mail_queue_size: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000
    """Mails waiting to be sent, per worker process; past that, new ones are dropped (logged and counted)."""
    mail_send_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5
    """Tries per mail, waiting 1, 2, 4, ... s (up to 60 s) between them."""
    email_verification_ttl: Seconds = 86400
    """How long a link to verify an address (after registration, or to confirm a new address) works."""
    password_reset_ttl: Seconds = 1800
    invitation_ttl: Seconds = 7 * 86400
    """How long the link mailed to an account an admin made without a password works (`POST /users` with no
    `password`, or `POST /users/{id}/password-link` for such an account)."""
    require_verified_email: bool = False
    """`true`: an unverified user's login (with the right password) answers 403 email_not_verified."""

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

    # Browsers (docs/browser.md)
    browser_session_idle_timeout: Seconds = 30 * 60
    """A signed-in browser that makes no request for this long is signed out (its absolute end is
    AUTHGATE_SESSION_TTL after login)."""
    cors_origins: tuple[str, ...] = ()
    """Origins (`https://app.example.com`, exactly) whose pages may call the JSON API; `*` for any origin
    (not with AUTHGATE_CORS_ALLOW_CREDENTIALS). None: no CORS headers at all."""
    cors_allow_credentials: bool = False
    """Let those origins' pages send credentials (cookies, TLS client certificates) to the JSON API."""
    cors_max_age: Annotated[int, msgspec.Meta(ge=0, le=86400)] = 600
    """Seconds a browser may cache a preflight's answer."""

    # Observability
    access_log: bool = True
    access_log_sample: Annotated[float, msgspec.Meta(gt=0, le=1)] = 1.0
    """The share of requests answered below 400 that get an access line (1: every one); every request answered
    400 or more gets one whatever this says. Counts and latencies come from the metrics, which see every request."""
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metrics_enabled: bool = True
    """Prometheus metrics (docs/operations.md): requests, latency, logins, refreshes, hashing, sessions."""
    metrics_port: Port = 0
    """Serve `GET /metrics` on this port (from the main process, off the public port) instead of the main one."""
    metrics_host: str = "127.0.0.1"
    """The address the metrics port listens on."""
    metrics_dir: str | None = None
    """Where the workers write their metrics files (default: a new temporary folder per `authgate serve`);
    one folder per instance: `authgate serve` empties it at start."""

    def __post_init__(self) -> None:
        if not self.issuer:
            msgspec.structs.force_setattr(self, "issuer", served_url(self.host, self.port))
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
        issuer = urlsplit(self.issuer)
        if not self.passkey_rp_id:
            msgspec.structs.force_setattr(self, "passkey_rp_id", issuer.hostname or "")
        if not self.passkey_origins:
            msgspec.structs.force_setattr(self, "passkey_origins", (f"{issuer.scheme}://{issuer.netloc}",))
        for origin in self.passkey_origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise ConfigError(f"AUTHGATE_PASSKEY_ORIGINS: {origin!r} is not an origin (https://host[:port])")
            host, rp_id = parts.hostname, self.passkey_rp_id.lower()
            if host != rp_id and not host.endswith("." + rp_id):
                raise ConfigError(
                    f"AUTHGATE_PASSKEY_ORIGINS: {origin!r} is not on {self.passkey_rp_id!r} (AUTHGATE_PASSKEY_RP_ID):"
                    " browsers refuse passkeys of a domain the page is not on"
                )
        msgspec.structs.force_setattr(self, "passkey_origins", tuple(o.rstrip("/") for o in self.passkey_origins))
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
        if self.metrics_port and self.metrics_port == self.port:
            raise ConfigError(f"AUTHGATE_METRICS_PORT={self.metrics_port}: the main port; choose another, or 0")
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
        self._check_mail()
        self._check_cors()

    def _check_mail(self) -> None:
        from email.utils import parseaddr

        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ConfigError("AUTHGATE_SMTP_USERNAME and AUTHGATE_SMTP_PASSWORD: set both or neither")
        if (
            self.smtp_username is not None
            and not (self.smtp_starttls or self.smtp_ssl)
            and not _is_loopback(self.smtp_host or "")
        ):
            raise ConfigError(
                f"AUTHGATE_SMTP_HOST={self.smtp_host!r}: the SMTP password would cross the network in the clear;"
                " set AUTHGATE_SMTP_STARTTLS=true or AUTHGATE_SMTP_SSL=true"
            )
        if self.smtp_host is not None and self.mail_dir is not None:
            raise ConfigError("AUTHGATE_SMTP_HOST and AUTHGATE_MAIL_DIR: choose one way to deliver mail")
        _, address = parseaddr(self.mail_from)
        if "@" not in address or any(c in self.mail_from for c in "\r\n"):
            raise ConfigError(f"AUTHGATE_MAIL_FROM={self.mail_from!r}: expected an address or Name <address>")
        if self.mail_templates_dir is not None and not Path(self.mail_templates_dir).is_dir():
            raise ConfigError(f"AUTHGATE_MAIL_TEMPLATES_DIR={self.mail_templates_dir!r}: not a folder")
        if self.smtp_ca_file is not None and not Path(self.smtp_ca_file).is_file():
            raise ConfigError(f"AUTHGATE_SMTP_CA_FILE={self.smtp_ca_file!r}: no such file")

    def _check_cors(self) -> None:
        for origin in self.cors_origins:
            if origin == "*":
                if self.cors_allow_credentials:
                    raise ConfigError(
                        "AUTHGATE_CORS_ORIGINS='*' with AUTHGATE_CORS_ALLOW_CREDENTIALS=true: any site could act"
                        " as its visitors; name the origins"
                    )
                continue
            parts = urlsplit(origin)
            try:
                port = parts.port
            except ValueError:
                port = -1
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or f"{parts.scheme}://{parts.netloc}" != origin
                or "@" in parts.netloc
                or origin != origin.lower()
                or port in (-1, 80 if parts.scheme == "http" else 443)
            ):
                raise ConfigError(
                    f"AUTHGATE_CORS_ORIGINS: {origin!r} is not an origin as browsers send it (scheme://host[:port]"
                    " in lower case, no default port, no path, no trailing slash)"
                )

    @property
    def mail_links_in_log(self) -> bool:
        """Whether mails may be written to the log with their links: only without a mail server (or folder),
        and only in development, which is when the issuer is a loopback address (`make run`)."""
        return self.smtp_host is None and self.mail_dir is None and _is_loopback(urlsplit(self.issuer).hostname or "")

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql:", "postgres:"))

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    def worker_count(self) -> int:
        return self.workers or usable_cpus()

    def hash_pool_threads(self) -> int:
        return self.hash_pool_size or usable_cpus()


def served_url(host: str, port: int) -> str:
    """`http://host:port` as a client on this machine reaches it: a wildcard host as loopback, IPv6 in brackets."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104  (not binding)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def usable_cpus() -> int:
    """The CPUs this process may run on: fewer than the machine's under `taskset` or a container's cpuset."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    import tomllib  # only with AUTHGATE_CONFIG: 3 ms of every start-up otherwise

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
