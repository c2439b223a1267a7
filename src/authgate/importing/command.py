"""`authgate import-users SOURCE`: users from another system, in batches, with a progress bar and a report.

    authgate import-users sqlite:////srv/flask/instance/app.db --email-domain example.org --rejects rejects.jsonl
    authgate import-users users.jsonl
    authgate import-users postgresql://reader@db/legacy --table accounts --password-column pw_hash

Each batch is one transaction: an interrupted import keeps the batches it committed, and running it again
skips the users already there. Exit status: 0 when every record was imported or skipped, 3 when some were
rejected (the others are imported; the summary and `--rejects` say which and why), 1 on an error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

import msgspec

from authgate.config import Settings
from authgate.domain.clock import utcnow
from authgate.domain.importer import (
    BatchResult,
    CheckedBatch,
    ImportRules,
    ImportSummary,
    Outcome,
    check_batch,
    make_rules,
)
from authgate.importing.sources import Source, SourceError, TableMapping, open_source

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from authgate.services import Services

T = TypeVar("T")


class WithServices(Protocol):
    """`cli._with_services`: runs `use` with the services started on `settings`, then closes them."""

    def __call__(self, settings: Settings, use: Callable[[Services], Awaitable[T]], /) -> Awaitable[T]: ...


EXIT_REJECTED = 3
BATCH_SIZE_MAX = 100_000
security = logging.getLogger("authgate.security")
_report_encoder = msgspec.json.Encoder()


def add_parser(sub: Any) -> None:
    """The `import-users` subcommand, on the `authgate` command's subparsers."""
    p = sub.add_parser(
        "import-users",
        help="import users with their password hashes from another system",
        description="SOURCE is sqlite:///path.db, postgresql://... (a table of users) or a JSON Lines file "
        '(one {"username", "email", "password_hash", "roles"?, "created_at"?} per line). Users keep their '
        "passwords: Werkzeug pbkdf2/scrypt, bcrypt, argon2i/argon2id, passlib and Django pbkdf2 hashes are "
        "accepted as they are and replaced by argon2id at each user's first login. Existing users are skipped.",
    )
    p.add_argument("source", metavar="SOURCE")
    defaults = TableMapping()
    p.add_argument("--table", default=defaults.table, help="table of users, or schema.table (default: %(default)s)")
    p.add_argument("--id-column", default=defaults.id_column, help="identifies rows in reports (default: %(default)s)")
    p.add_argument("--username-column", default=defaults.username_column, help="(default: %(default)s)")
    p.add_argument("--password-column", default=defaults.password_column, help="(default: %(default)s)")
    p.add_argument(
        "--email-column", help=f"(default: {defaults.email_column}, when the table has one; a table may have none)"
    )
    p.add_argument("--email-domain", help="a user without an email gets USERNAME@EMAIL_DOMAIN (unverified)")
    p.add_argument(
        "--roles", help="comma-separated roles of users whose record names none (default: AUTHGATE_DEFAULT_ROLES)"
    )
    p.add_argument("--batch-size", type=_batch_size, default=5000, help="users per transaction (default: %(default)s)")
    p.add_argument("--rejects", type=Path, help="write every record not imported (JSON Lines: where, username, why)")
    p.add_argument("--dry-run", action="store_true", help="check every record, write nothing (not even the schema)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _batch_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= BATCH_SIZE_MAX:
        raise argparse.ArgumentTypeError(f"must be 1 to {BATCH_SIZE_MAX}")
    return value


async def import_users(settings: Settings, args: argparse.Namespace, with_services: WithServices) -> int:
    roles = tuple(r.strip() for r in args.roles.split(",") if r.strip()) if args.roles is not None else None
    rules = make_rules(
        settings.roles,
        default_roles=roles if roles is not None else settings.default_roles,
        email_domain=args.email_domain,
    )
    mapping = TableMapping(
        table=args.table,
        id_column=args.id_column,
        username_column=args.username_column,
        password_column=args.password_column,
        email_column=args.email_column or TableMapping().email_column,
        email_required=args.email_column is not None,
    )
    try:
        source = await open_source(args.source, mapping)
    except SourceError as exc:
        print(f"authgate: import-users: {exc}", file=sys.stderr)
        return 1
    try:
        if not source.has_email and rules.email_domain is None:
            print(
                f"authgate: import-users: table {mapping.table!r} has no {mapping.email_column!r} column: name the "
                "email column with --email-column, or give every user USERNAME@DOMAIN with --email-domain DOMAIN",
                file=sys.stderr,
            )
            return 1
        run = _Run(source, args)
        if args.dry_run:
            summary = await run.all(rules, _nothing_written)
        else:

            async def write(services: Services) -> ImportSummary:
                return await run.all(rules, services.importer.write)

            summary = await with_services(settings, write)
    except (SourceError, OSError) as exc:  # OSError: the report file cannot be written
        print(f"authgate: import-users: {exc}", file=sys.stderr)
        return 1
    finally:
        await source.close()
    for line in summary_lines(summary, run.elapsed, dry_run=args.dry_run, report=args.rejects):
        print(line)
    if not args.dry_run:
        security.info(
            "users imported",
            extra={
                "event": "users_import",
                "via": "cli",
                "source": _describe(args.source),
                "imported": summary.imported,
                "skipped": summary.skipped,
                "rejected": sum(summary.rejected.values()),
            },
        )
    return EXIT_REJECTED if summary.rejected else 0


async def _nothing_written(checked: CheckedBatch) -> BatchResult:
    """The dry run's `write`."""
    return BatchResult(0, len(checked.users), checked.rejected)


class _Run:
    """One pass over the source: check and write batch after batch, the progress bar, the report, the totals.

    Checking a batch is CPU work (email syntax, hash formats) and writing one waits on the database, so the
    next batch is checked in a thread while the previous one is written: SQLite and PostgreSQL do their part
    on another core meanwhile. One write at a time, in order, so batches never wait on each other's locks.
    """

    def __init__(self, source: Source, args: argparse.Namespace) -> None:
        self.source = source
        self.batch_size: int = args.batch_size
        self.dry_run: bool = args.dry_run
        self.report_path: Path | None = args.rejects
        self.show_progress = not args.no_progress
        self.elapsed = 0.0

    async def all(self, rules: ImportRules, write: Callable[[CheckedBatch], Awaitable[BatchResult]]) -> ImportSummary:
        summary = ImportSummary()
        total = await self.source.count()
        start = time.perf_counter()
        with ExitStack() as stack:
            report = stack.enter_context(self.report_path.open("wb")) if self.report_path else None
            progress, task = stack.enter_context(_progress(total, enabled=self.show_progress, dry_run=self.dry_run))

            def done(batch: BatchResult) -> None:
                summary.add(batch)
                if report is not None and batch.outcomes:
                    _write_report(report, self.source.position_name, batch.outcomes)
                advance = batch.valid + sum(1 for o in batch.outcomes if o.status == "rejected")
                progress.update(task, advance=advance, status=_status(summary, dry_run=self.dry_run))

            checked: CheckedBatch | None = None
            async for items in self.source.chunks(self.batch_size):
                checking = asyncio.to_thread(check_batch, items, rules, utcnow())
                if checked is None:
                    checked = await checking
                    continue
                written, checked = await asyncio.gather(write(checked), checking)
                done(written)
            if checked is not None:
                done(await write(checked))
        self.elapsed = time.perf_counter() - start
        return summary


@contextmanager
def _progress(total: int, *, enabled: bool, dry_run: bool) -> Iterator[tuple[Progress, TaskID]]:
    """A rich progress bar on stderr (or nothing)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("checking" if dry_run else "importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=Console(stderr=True),
        disable=not enabled,
        refresh_per_second=4,
    )
    task = progress.add_task("import", total=total, status="")
    with progress:
        yield progress, task


def _status(summary: ImportSummary, *, dry_run: bool) -> str:
    rejected = sum(summary.rejected.values())
    if dry_run:
        return f"{summary.valid:,} valid, {rejected:,} rejected"
    return f"{summary.imported:,} imported, {summary.skipped:,} skipped, {rejected:,} rejected"


def _write_report(out: IO[bytes], position_name: str, outcomes: list[Outcome]) -> None:
    lines = [
        _report_encoder.encode(
            {
                position_name: o.position,
                "username": o.username,
                "outcome": o.status,
                "reason": o.reason,
                "detail": o.detail,
            }
        )
        for o in outcomes
    ]
    out.write(b"\n".join(lines) + b"\n")


def summary_lines(summary: ImportSummary, elapsed: float, *, dry_run: bool, report: Path | None) -> list[str]:
    rejected = sum(summary.rejected.values())
    rate = summary.total / elapsed if elapsed > 0 else 0.0
    if dry_run:
        lines = [
            f"dry run: {summary.total:,} records checked in {elapsed:.1f} s; {summary.valid:,} valid (imported "
            f"unless they already exist), {rejected:,} rejected; nothing was written"
        ]
    else:
        lines = [
            f"imported {summary.imported:,} users, skipped {summary.skipped:,} (already there), rejected "
            f"{rejected:,}; {summary.total:,} records in {elapsed:.1f} s ({rate:,.0f} per second)"
        ]
    width = max((len(reason) for reason in summary.rejected), default=0)
    lines += [f"  {reason:<{width}}  {count:,}" for reason, count in summary.rejected.most_common()]
    if report is not None and (rejected or summary.skipped):
        lines.append(f"records not imported, and why: {report}")
    return lines


def _describe(source: str) -> str:
    """The source without a password, for the log."""
    if "://" in source and "@" in source:
        scheme, rest = source.split("://", 1)
        return f"{scheme}://{rest.rsplit('@', 1)[1]}"
    return source
