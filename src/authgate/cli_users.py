"""`authgate users list|show|disable|enable|delete|grant|revoke|logout|reset-mfa`: user management for operators
without a token.

The same use cases as the admin API (`UserAdmin`): the same validation, the same last-admin rule, disabling
ends the user's sessions. Users are named by username, email or id. Each change is audited (`by: operator`) and
logged as a security event with `actor: cli`.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys

import msgspec

from authgate.config import Settings
from authgate.domain.admin import LIMIT_MAX, UserChanges, UserDetails, UserListing
from authgate.domain.clients import ClientInfo
from authgate.domain.users import User
from authgate.services import Services

security = logging.getLogger("authgate.security")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    users = sub.add_parser(
        "users",
        help="manage users (list, show, disable, enable, delete, grant, revoke, logout, reset-mfa, password-link)",
    )
    cmds = users.add_subparsers(dest="users_command", required=True)
    listing = cmds.add_parser("list", help="list users, oldest first")
    listing.add_argument("--limit", type=int, default=50, help=f"at most this many (1 to {LIMIT_MAX}, default 50)")
    listing.add_argument("--q", help="username or email prefix")
    listing.add_argument("--role", help="only users with this role")
    listing.add_argument("--sort", choices=("created_at", "-created_at", "username"), default="created_at")
    listing.add_argument("--cursor", help="the cursor printed under the previous page")
    for name, text in [
        ("show", "a user's account, two-step login, passkeys and active sessions"),
        ("disable", "disable a user and end their sessions"),
        ("enable", "enable a user"),
        ("logout", "end every session of a user, without disabling them"),
        ("reset-mfa", "turn a user's two-step login off (a lost phone and lost recovery codes)"),
        ("password-link", "mail a user a link to choose a password (the invitation again, or a reset link)"),
    ]:
        cmds.add_parser(name, help=text).add_argument("user", help="username, email or id")
    delete = cmds.add_parser("delete", help="delete a user (their sessions end)")
    delete.add_argument("user", help="username, email or id")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    for name, text in [("grant", "give a user a role"), ("revoke", "take a role from a user")]:
        command = cmds.add_parser(name, help=text)
        command.add_argument("user", help="username, email or id")
        command.add_argument("role")


def table(listing: UserListing) -> str:
    """One line a user; PASSWORD is "invited" for an account whose invitation has not been followed yet."""
    rows = [("USERNAME", "EMAIL", "ROLES", "DISABLED", "PASSWORD", "2-STEP", "CREATED")]
    rows += [
        (
            u.username,
            u.email,
            ",".join(u.roles),
            "yes" if u.disabled else "no",
            "yes" if u.has_password else "invited",
            "on" if u.id in listing.two_step else "off",
            f"{u.created_at:%Y-%m-%d %H:%M}Z",
        )
        for u in listing.users
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def describe(details: UserDetails) -> str:
    user, mfa = details.user, details.mfa
    if mfa.enabled:
        second = f"on ({mfa.recovery_codes_left} recovery codes left)"
    else:
        second = "set up, waiting for its first code" if mfa.pending else "off"
    lines = [
        f"id              {user.id}",
        f"username        {user.username}",
        f"email           {user.email} ({'verified' if user.email_verified else 'not verified'})",
        f"roles           {','.join(user.roles) or '(none)'}",
        f"disabled        {'yes' if user.disabled else 'no'}",
        f"created         {user.created_at:%Y-%m-%d %H:%M}Z",
        f"two-step login  {second}",
        f"passkeys        {details.passkeys}",
        f"sessions        {len(details.sessions)} active",
    ]
    lines += [
        f"  {s.created_at:%Y-%m-%d %H:%M}Z  last used {s.last_used_at:%Y-%m-%d %H:%M}Z  {s.ip or '-'}  "
        f"{s.user_agent[:60] or '-'}"
        for s in details.sessions
    ]
    return "\n".join(lines)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    services = await Services.start(settings)
    try:
        return await _run(services, args)
    finally:
        await services.close()


async def _run(services: Services, args: argparse.Namespace) -> int:
    admin = services.admin
    command = args.users_command
    if command == "list":
        listing = await admin.list(limit=args.limit, cursor=args.cursor, q=args.q, role=args.role, sort=args.sort)
        print(table(listing))
        if listing.next_cursor:
            print(f"\nmore: authgate users list --cursor {listing.next_cursor}" + _same_filters(args))
        return 0
    user = await admin.find(args.user)
    if command == "delete":
        if not args.yes and not _confirm(f"Delete {user.username} ({user.email})? [y/N] "):
            print("nothing deleted", file=sys.stderr)
            return 1
        await admin.delete(user.id)
        _log("user deleted by an operator", "admin_user_delete", user)
        print(f"deleted {user.username}")
        return 0
    if command == "show":
        print(describe(await admin.details(user.id)))
        return 0
    if command == "logout":
        ended = await admin.end_sessions(user.id)
        security.info(
            "sessions ended by an operator",
            extra={"event": "admin_sessions_end", "actor": "cli", "target_id": user.id, "ended": ended},
        )
        print(f"{user.username}: {ended} session(s) ended")
        return 0
    if command == "reset-mfa":
        await services.mfa.reset(user.id, actor_id=None, client=ClientInfo())
        _log("two-step login reset by an operator", "mfa_disabled", user)
        print(f"{user.username}: two-step login is off; their next login needs the password only")
        return 0
    if command == "password-link":
        await admin.send_password_link(user.id)
        _log("password link mailed by an operator", "admin_password_link", user)
        kind = "a reset link" if user.has_password else "the invitation"
        print(f"{user.username}: {kind} mailed to {user.email}")
        return 0
    if command in ("disable", "enable"):
        changes = UserChanges(disabled=command == "disable")
    else:
        roles = [r for r in user.roles if r != args.role]
        changes = UserChanges(roles=[*roles, args.role] if command == "grant" else roles)
    changed = await admin.update(user.id, changes)
    _log("user changed by an operator", "admin_user_update", changed, changes)
    state = "disabled" if changed.disabled else "enabled"
    print(f"{changed.username}: roles {','.join(changed.roles) or '(none)'}; {state}")
    return 0


def _same_filters(args: argparse.Namespace) -> str:
    flags = [f" --{name} {shlex.quote(getattr(args, name))}" for name in ("q", "role") if getattr(args, name)]
    flags += [f" --sort {args.sort}"] if args.sort != "created_at" else []
    flags += [f" --limit {args.limit}"] if args.limit != 50 else []
    return "".join(flags)


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        print("authgate: refusing to delete without --yes (stdin is not a terminal)", file=sys.stderr)
        return False
    return input(prompt).strip().lower() in ("y", "yes")


def _log(message: str, event: str, user: User, changes: UserChanges | None = None) -> None:
    extra: dict[str, object] = {"event": event, "actor": "cli", "target_id": user.id}
    if changes is not None:
        extra["changed"] = [f for f in ("email", "roles", "disabled") if getattr(changes, f) is not msgspec.UNSET]
        extra |= {"roles": list(user.roles), "disabled": user.disabled}
    security.info(message, extra=extra)
