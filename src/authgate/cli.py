"""The `authgate` command: serve, migrate, create-user, keys, users, import-users, cleanup."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from authgate import cli_users
from authgate.config import ConfigError, Settings, load_settings
from authgate.errors import AuthgateError, ValidationFailed
from authgate.importing import command as import_command
from authgate.services import Services

T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="authgate", description="User authentication and management service.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API with Granian")
    serve.add_argument("--host", help="address to listen on (AUTHGATE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (AUTHGATE_PORT, default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (AUTHGATE_WORKERS; 0 = one per CPU it may use)")

    sub.add_parser("migrate", help="apply pending database migrations")

    create = sub.add_parser("create-user", help="create a user (asks for the password, or mails an invitation)")
    create.add_argument("username")
    create.add_argument("--email", required=True)
    create.add_argument("--admin", action="store_true", help="grant the admin role")
    how = create.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    how.add_argument(
        "--invite", action="store_true", help="set no password: mail the user a link to choose one (AUTHGATE_MAIL_*)"
    )

    keys = sub.add_parser("keys", help="signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("list", help="list signing keys")
    keys_sub.add_parser("rotate", help="add a new signing key; the old one verifies until its tokens expire")
    cli_users.add_parser(sub)
    import_command.add_parser(sub)
    sub.add_parser(
        "cleanup",
        help="delete sessions that are over (with their refresh tokens) and audit events past their retention, once",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            for flag in ("host", "port", "workers"):
                value = getattr(args, flag)
                if value is not None:
                    os.environ[f"AUTHGATE_{flag.upper()}"] = str(value)
        settings = load_settings()
        if args.command == "serve":
            return _serve(settings)
        if args.command == "migrate":
            return _run(_migrate(settings))
        if args.command == "create-user":
            password = None if args.invite else _read_password(args.password_stdin)
            return _run(_create_user(settings, args.username, args.email, password, args.admin))
        if args.command == "keys":
            return _run(_keys(settings, args.keys_command))
        if args.command == "users":
            return _run(cli_users.run(settings, args))
        if args.command == "import-users":
            return _run(import_command.import_users(settings, args, _with_services))
        if args.command == "cleanup":
            return _run(_cleanup(settings))
    except ConfigError as exc:
        print(f"authgate: configuration error: {exc}", file=sys.stderr)
        return 2
    except ValidationFailed as exc:
        for error in exc.errors:
            print(f"authgate: {error.field}: {error.message}", file=sys.stderr)
        return 1
    except AuthgateError as exc:
        print(f"authgate: {exc.code}: {exc.detail}", file=sys.stderr)
        return 1
    raise AssertionError(args.command)


def _run(coro: Awaitable[int]) -> int:
    async def runner() -> int:
        return await coro

    return asyncio.run(runner())


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        print("authgate: the passwords differ", file=sys.stderr)
        raise SystemExit(1)
    return first


async def _with_services(settings: Settings, use: Callable[[Services], Awaitable[T]]) -> T:
    services = await Services.start(settings)
    try:
        return await use(services)
    finally:
        await services.close()


async def _migrate(settings: Settings) -> int:
    from authgate.storage import open_database

    db = open_database(settings.database_url)
    await db.connect()
    try:
        applied = await db.migrate()
    finally:
        await db.close()
    print(f"applied: {', '.join(applied)}" if applied else "the schema is up to date")
    return 0


async def _create_user(settings: Settings, username: str, email: str, password: str | None, admin: bool) -> int:
    """`password` None: an invitation, mailed before the command ends (`Services.close` waits for the outbox)."""

    async def create(services: Services) -> int:
        roles = ("admin", *settings.default_roles) if admin else settings.default_roles
        user = await services.admin.create(username, email, password, roles)
        print(f"created user {user.username} ({user.id}) with roles {', '.join(user.roles)}")
        if password is None:
            print(f"an invitation to choose a password is on its way to {user.email}")
        return 0

    return await _with_services(settings, create)


async def _keys(settings: Settings, command: str) -> int:
    async def run(services: Services) -> int:
        if command == "rotate":
            key = await services.rotate_keys()  # and tell every worker of every instance
            print(f"new signing key {key.kid}; the previous one verifies for {settings.access_token_ttl} s more")
            return 0
        for key in await services.keys.list():
            state = "current" if key.retired_at is None else f"retired {key.retired_at:%Y-%m-%d %H:%M:%S}Z"
            print(f"{key.kid}  created {key.created_at:%Y-%m-%d %H:%M:%S}Z  {state}")
        return 0

    return await _with_services(settings, run)


async def _cleanup(settings: Settings) -> int:
    async def sweep(services: Services) -> int:
        swept = await services.retention.sweep()
        days = settings.audit_retention_days
        print(f"deleted {swept.sessions} session(s) that were over, with their refresh tokens")
        print(f"deleted {swept.audit_events} audit event(s) older than {days} days" if days else "audit events: kept")
        print(f"deleted {swept.passkey_challenges} answered passkey challenge(s) that expired")
        return 0

    return await _with_services(settings, sweep)


def _serve(settings: Settings) -> int:
    from authgate.observability.tracing import check_environment

    check_environment(os.environ)  # OTEL_* asking for an exporter that is not installed: say so before forking
    # What would make every worker fail at its start is found here, once, before they are forked: Granian
    # would respawn a failing worker forever. It waits on PostgreSQL, so it runs in a thread while this one
    # imports what serving needs; the thread has ended before anything is forked.
    with ThreadPoolExecutor(1, thread_name_prefix="authgate-prepare") as executor:
        prepared = executor.submit(_run, _prepare(settings))
        from granian import Granian
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings

        from authgate.observability.serving import prepare_metrics

        # authgate.app is imported (with authgate.worker) before the workers are forked, so that they share
        # these pages instead of each importing its own copy; and out of the collector's sight, so that its
        # passes do not touch (and so copy) them.
        from authgate.worker import hold_stop_signals_across_forks

        prepared.result()
    hold_stop_signals_across_forks()

    gc.freeze()
    workers = settings.worker_count()
    print(
        f"authgate listening on http://{settings.host}:{settings.port} with {workers} worker(s); "
        f"database {_redact(settings.database_url)}\n"
        "Create the first admin with: authgate create-user NAME --email EMAIL --admin",
        flush=True,
    )
    server = Granian(
        "authgate.worker:create_worker_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.RSGI,
        # HTTP/1.1 only: Granian's HTTP/2 (cleartext, prior knowledge) would take header lists of 16 MiB and
        # 200 streams a connection, past every HTTP/1 limit; nginx speaks HTTP/1.1 to authgate anyway.
        http=HTTPModes.http1,
        workers=workers,
        backlog=2048,
        backpressure=settings.worker_concurrency,
        http1_settings=HTTP1Settings(header_read_timeout=settings.header_read_timeout * 1000),
        respawn_failed_workers=True,
        workers_kill_timeout=settings.shutdown_timeout,
        log_access=False,
    )
    prepare_metrics(settings, server)
    server.serve()
    return 0


async def _prepare(settings: Settings) -> int:
    """Migrate the database, make the first signing key (or check that the key-encryption key opens the existing
    keys), and check the mail-template overrides. Not the whole of `Services.start`: each worker does that anyway,
    and the rest (the secrets of cursors, devices and browsers, the rate limiter's store) would only be done
    twice."""
    from authgate.domain.clock import utcnow
    from authgate.services import check_mail_templates, start_signing_keys
    from authgate.storage import open_database

    check_mail_templates(settings)
    db = open_database(settings.database_url)
    await db.connect()
    try:
        await db.migrate()
        await start_signing_keys(settings, db, utcnow)
    finally:
        await db.close()
    return 0


def _redact(url: str) -> str:
    """A database URL without its password."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{user}@{host}"
