"""User management for admins (the HTTP API) and operators (the CLI): list, create, get, change, delete, end a
user's sessions. Every change is audited in its transaction, with the admin as `actor_id` (none for an operator
on the command line).

Listing is keyset pagination over the store's `page()`: the cost of a page does not depend on how deep it is
or how many users exist, and walking every page returns every user exactly once even while users are created
and deleted between pages. The last admin can never be removed: changes that may remove an admin take the
store's admin lock first, then count within the same transaction, so two admins demoting each other at once
leave one of them an admin.

Admins never choose another user's password (ASVS 6.4.6): there is no such change here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import msgspec

from authgate.domain.audit import DetailValue
from authgate.domain.auth import AuthService
from authgate.domain.clients import NO_CLIENT, ClientInfo, by_whom, client_event
from authgate.domain.clock import EPOCH as _EPOCH
from authgate.domain.clock import Clock
from authgate.domain.cursors import CursorCodec, Listing
from authgate.domain.ids import is_id
from authgate.domain.mfa import MfaStatus, mfa_status
from authgate.domain.sessions import Session
from authgate.domain.users import EMAIL_MAX, User, check_email, check_roles, login_key
from authgate.errors import FieldError, LastAdmin, UserDisabled, UserNotFound, ValidationFailed
from authgate.storage.base import Database, Stores, UserQuery, UserSort

LIMIT_MAX = 200
LIMIT_DEFAULT = 50


class UserListing(msgspec.Struct, frozen=True):
    users: list[User]
    next_cursor: str | None
    two_step: frozenset[str] = frozenset()
    """The ids of the listed users who have two-step login on."""


class UserDetails(msgspec.Struct, frozen=True):
    """A user as an admin inspects one: the account, its two-step login, its passkeys and its active sessions."""

    user: User
    mfa: MfaStatus
    sessions: list[Session]
    """Active, newest first."""
    passkeys: int = 0


class UserChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What an admin may change; UNSET leaves a field as it is."""

    email: str | msgspec.UnsetType = msgspec.UNSET
    roles: Sequence[str] | msgspec.UnsetType = msgspec.UNSET
    disabled: bool | msgspec.UnsetType = msgspec.UNSET

    def may_remove_admin(self) -> bool:
        return self.roles is not msgspec.UNSET or self.disabled is True

    def names(self) -> list[str]:
        """The fields that change."""
        return [name for name in ("email", "roles", "disabled") if getattr(self, name) is not msgspec.UNSET]


PasswordLinkHook = Callable[[User, str | None, ClientInfo], None]
"""`EmailFlows.send_password_link`: the user, the admin who asked (None: an operator), from where."""


def sort_key(user: User, sort: UserSort) -> str:
    """The keyset position of `user` in a listing sorted by `sort` (see `UserQuery.after`)."""
    if sort == "username":
        return user.username_key
    return str((user.created_at - _EPOCH) // timedelta(microseconds=1))


def is_active_admin(user: User) -> bool:
    return user.is_admin and not user.disabled


class UserAdmin:
    def __init__(
        self, *, db: Database, auth: AuthService, cursors: CursorCodec, roles: tuple[str, ...], clock: Clock
    ) -> None:
        self.db = db
        self.auth = auth
        self.cursors = cursors
        self.roles = roles
        self.clock = clock
        self.on_password_link: PasswordLinkHook | None = None
        """Mails a user the link to choose a password (the email flows set it)."""

    async def list(
        self,
        *,
        limit: int = LIMIT_DEFAULT,
        cursor: str | None = None,
        q: str | None = None,
        role: str | None = None,
        sort: UserSort = "created_at",
    ) -> UserListing:
        errors: list[FieldError] = []
        if not 1 <= limit <= LIMIT_MAX:
            errors.append(FieldError("limit", f"must be 1 to {LIMIT_MAX}"))
        prefix = login_key(q) if q else ""
        if len(prefix) > EMAIL_MAX or "\x00" in prefix:
            errors.append(FieldError("q", f"must be at most {EMAIL_MAX} characters, without NUL"))
        if role and role not in self.roles:
            errors.append(FieldError("role", f"unknown role; one of: {', '.join(self.roles)}"))
        if errors:
            raise ValidationFailed(errors)
        listing = Listing("users", sort, prefix, role or "")
        after = self.cursors.decode(cursor, listing) if cursor else None
        query = UserQuery(limit=limit, sort=sort, after=after, prefix=prefix or None, role=role or None)
        async with self.db.replica() as r:
            page = await r.users.page(query)
        next_cursor = None
        if page.has_more and page.users:
            last = page.users[-1]
            next_cursor = self.cursors.encode(listing, (sort_key(last, sort), last.id))
        return UserListing(page.users, next_cursor, page.two_step)

    async def create(
        self,
        username: str,
        email: str,
        password: str | None,
        roles: Sequence[str] | None = None,
        *,
        actor_id: str | None = None,
        client: ClientInfo = NO_CLIENT,
    ) -> User:
        """Same rules and conflicts as registration, with the roles the admin chose (default: the default roles).
        Without a password the account is an invitation: no password signs in to it until its user follows the
        link mailed to them and chooses one (see `send_password_link`)."""
        user = await self.auth.register(
            username, email, password, roles=roles, by_admin=True, actor_id=actor_id, client=client
        )
        if password is None:
            self._password_link(user, actor_id, client)
        return user

    async def send_password_link(
        self, user_id: str, *, actor_id: str | None = None, client: ClientInfo = NO_CLIENT
    ) -> User:
        """Mail the user a link to choose a password: the invitation again for an account that has none yet, a
        password reset link for any other. The admin neither sets nor learns the password. UserDisabled for a
        disabled account (its links would be refused)."""
        user = await self.get(user_id)
        if user.disabled:
            raise UserDisabled()
        self._password_link(user, actor_id, client)
        return user

    def _password_link(self, user: User, actor_id: str | None, client: ClientInfo) -> None:
        if self.on_password_link is not None:
            self.on_password_link(user, actor_id, client)

    async def get(self, user_id: str) -> User:
        async with self.db.reader() as r:
            return await _existing(r, user_id)

    async def details(self, user_id: str) -> UserDetails:
        async with self.db.reader() as r:
            user = await _existing(r, user_id)
            mfa = await mfa_status(r, user_id)
            sessions = await r.sessions.list_for_user(user_id, self.clock())
            passkeys = await r.passkeys.list_for_user(user_id)
        return UserDetails(user, mfa, sessions, len(passkeys))

    async def sessions(self, user_id: str) -> Sequence[Session]:
        """The user's active sessions, newest first."""
        async with self.db.reader() as r:
            await _existing(r, user_id)
            return await r.sessions.list_for_user(user_id, self.clock())

    async def find(self, login_or_id: str) -> User:
        """A user by id, username or email (for the command line)."""
        if is_id(login_or_id):
            return await self.get(login_or_id)
        key = login_key(login_or_id)
        user = None
        if "\x00" not in key:
            async with self.db.reader() as r:
                user = await r.users.get_by_login(key)
        if user is None:
            raise UserNotFound()
        return user

    async def update(
        self, user_id: str, changes: UserChanges, *, actor_id: str | None = None, client: ClientInfo = NO_CLIENT
    ) -> User:
        """Apply `changes` (by the admin `actor_id`, or an operator: None); disabling ends every session of the
        user at once. LastAdmin when it would leave no admin; EmailTaken on a clash."""
        errors: list[FieldError] = []
        email = roles = None
        if changes.email is not msgspec.UNSET:
            email = check_email(changes.email, errors)
        if changes.roles is not msgspec.UNSET:
            roles = check_roles(changes.roles, self.roles, errors)
        if errors:
            raise ValidationFailed(errors)
        if not is_id(user_id):
            raise UserNotFound()
        now = self.clock()
        async with self.db.transaction() as tx:
            if changes.may_remove_admin():
                await tx.users.lock_admins()
            user = await _existing(tx, user_id)
            was_admin = is_active_admin(user)
            if email is not None and email != user.email:
                user.email = email
                user.email_verified = False
            if roles is not None:
                user.roles = roles
            if changes.disabled is not msgspec.UNSET:
                user.disabled = changes.disabled
            user.updated_at = now
            await tx.users.update(user)
            ended = await tx.sessions.end_all_for_user(user.id, now) if user.disabled else 0
            if was_admin and not is_active_admin(user):
                await keep_an_admin(tx)
            detail: dict[str, DetailValue] = {
                "changed": ",".join(changes.names()),
                "roles": ",".join(user.roles),
                "disabled": user.disabled,
                "sessions_ended": ended,
                **by_whom(actor_id),
            }
            await tx.audit.add(
                client_event("admin_user_update", client, now, user_id=user.id, actor_id=actor_id, detail=detail)
            )
        return user

    async def delete(self, user_id: str, *, actor_id: str | None = None, client: ClientInfo = NO_CLIENT) -> User:
        """Delete the user and (by cascade) their sessions; their tokens stop working at once. The audit event
        keeps the username: the user's history outlives the account."""
        async with self.db.transaction() as tx:
            await tx.users.lock_admins()
            user = await _existing(tx, user_id)
            await tx.users.delete(user_id)
            if is_active_admin(user):
                await keep_an_admin(tx)
            detail: dict[str, DetailValue] = {"username": user.username, **by_whom(actor_id)}
            event = client_event(
                "admin_user_delete", client, self.clock(), user_id=user.id, actor_id=actor_id, detail=detail
            )
            await tx.audit.add(event)
        return user

    async def end_sessions(self, user_id: str, *, actor_id: str | None = None, client: ClientInfo = NO_CLIENT) -> int:
        """End every session of the user (a stolen device, a suspicion) without disabling the account: their
        access tokens stop working at once and their refresh tokens fail. How many were active."""
        now = self.clock()
        async with self.db.transaction() as tx:
            await _existing(tx, user_id)
            ended = await tx.sessions.end_all_for_user(user_id, now)
            detail: dict[str, DetailValue] = {"ended": ended, **by_whom(actor_id)}
            await tx.audit.add(
                client_event("admin_sessions_end", client, now, user_id=user_id, actor_id=actor_id, detail=detail)
            )
        return ended


async def _existing(stores: Stores, user_id: str) -> User:
    user = await stores.users.get(user_id) if is_id(user_id) else None
    if user is None:
        raise UserNotFound()
    return user


async def keep_an_admin(tx: Stores) -> None:
    """Inside the transaction, after the change and under the admin lock: refuse it if no admin is left."""
    if await tx.users.count_admins() == 0:
        raise LastAdmin("This would leave no admin; make another user an admin first")
