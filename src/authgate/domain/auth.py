"""The authentication use cases: register, log in, log out, and authenticate a bearer token (refresh is
`domain/refresh.py`).

Each use case owns its transaction. Password hashing, the slow part, always runs in the hash pool and never
inside a transaction, so a database connection is never held while a hash is computed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from authgate.domain.audit import AuditEvent, DetailValue
from authgate.domain.clients import NO_CLIENT, ClientInfo, by_whom, client_event
from authgate.domain.clock import Clock
from authgate.domain.guard import Attempt, LoginGuard
from authgate.domain.ids import is_id, new_id
from authgate.domain.passwords import HashPool, PasswordHasher, check_new_password
from authgate.domain.reauth import Reauthentication
from authgate.domain.session_cache import SessionCache
from authgate.domain.sessions import (
    LoginMethod,
    RefreshToken,
    Session,
    hash_refresh_token,
    new_refresh_token,
)
from authgate.domain.signing import SigningKeys
from authgate.domain.tokens import AccessClaims, AccessTokens, UnknownKey
from authgate.domain.users import NO_PASSWORD, User, check_email, check_roles, check_username, login_key
from authgate.errors import (
    EmailLoginDisabled,
    EmailNotVerified,
    FieldError,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidMfaToken,
    InvalidPasskey,
    MfaNotEnabled,
    MfaRequired,
    RegistrationClosed,
    SessionEnded,
    SessionNotFound,
    ValidationFailed,
)
from authgate.storage.base import Database

if TYPE_CHECKING:
    from authgate.domain.mfa import SecondFactors
    from authgate.domain.passkeys import Passkeys


class AuthPolicy(msgspec.Struct, frozen=True, kw_only=True):
    access_token_ttl: int = 900
    refresh_token_ttl: int = 14 * 24 * 3600
    session_ttl: int = 30 * 24 * 3600
    refresh_grace_seconds: int = 10
    registration_open: bool = True
    reject_common_passwords: bool = True
    roles: tuple[str, ...] = ("admin", "user")
    default_roles: tuple[str, ...] = ("user",)
    require_verified_email: bool = False
    """Refuse the login of an unverified user (after the password check: 403 email_not_verified)."""


class TokenPair(msgspec.Struct, frozen=True):
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    user_id: str
    device_token: str | None = None
    """After a login: proof for the client's next logins that it is a known device (see `domain/devices.py`)."""


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the verified token, its user and its session."""

    claims: AccessClaims
    user: User
    session: Session


ExistingAccountHook = Callable[[User, ClientInfo], Awaitable[None]]
"""Tells the owner of an existing account that someone tried to register with its email (the mailer sets it)."""
RedeemLoginLink = Callable[[str], Awaitable[User]]
RegisteredHook = Callable[[User], None]
"""Mails a user who registered themselves a link to verify the address (the email flows set it)."""


class AuthService:
    def __init__(
        self,
        *,
        db: Database,
        policy: AuthPolicy,
        hasher: PasswordHasher,
        pool: HashPool,
        keys: SigningKeys,
        tokens: AccessTokens,
        clock: Clock,
        reauth: Reauthentication,
        guard: LoginGuard | None = None,
        session_cache: SessionCache | None = None,
    ) -> None:
        self.db = db
        self.policy = policy
        self.hasher = hasher
        self.pool = pool
        self.keys = keys
        self.tokens = tokens
        self.clock = clock
        self.reauth = reauth
        self.guard = guard
        """Rate limits and back-off per account at login (None: none)."""
        self.session_cache = session_cache
        """Sessions checked recently (None: every request asks the database)."""
        self.on_existing_account: ExistingAccountHook | None = None
        """Called when, with AUTHGATE_HIDE_ACCOUNT_EXISTENCE, someone registers an email that is taken."""
        self.on_registered: RegisteredHook | None = None
        """Called once a self-registration is committed (through the API or the pages; not an admin's)."""
        self.second_factors: SecondFactors | None = None
        """Two-step login (`domain/mfa.py`; None: no account is asked for a code)."""
        self.passkeys: Passkeys | None = None
        """Logins with a passkey (`domain/passkeys.py`; None: none)."""
        self.redeem_login_link: RedeemLoginLink | None = None
        """Uses up a sign-in link's token and answers its user (the email flows set it when AUTHGATE_EMAIL_LOGIN
        is on; None: `login_email_link` is refused)."""

    # -- accounts ------------------------------------------------------------------------------------------

    async def register(
        self,
        username: str,
        email: str,
        password: str | None,
        *,
        roles: Sequence[str] | None = None,
        by_admin: bool = False,
        actor_id: str | None = None,
        client: ClientInfo = NO_CLIENT,
    ) -> User:
        """A new account. Audited as `register`, or `admin_user_create` (by `actor_id`) when `by_admin`; only an
        admin makes one without a password (`None`: an invitation, see `UserAdmin.create`)."""
        if not (by_admin or self.policy.registration_open):
            raise RegistrationClosed()
        errors: list[FieldError] = []
        name = check_username(username, errors)
        address = check_email(email, errors)
        granted = check_roles(self.policy.default_roles if roles is None else roles, self.policy.roles, errors)
        if password is not None:
            check_new_password(
                password, errors, reject_common=self.policy.reject_common_passwords, personal=(name, address)
            )
        elif not by_admin:
            errors.append(FieldError("password", "is required"))
        if errors:
            raise ValidationFailed(errors)
        password_hash = NO_PASSWORD if password is None else await self.pool.run(self.hasher.hash, password)
        now = self.clock()
        user = User(
            id=new_id(),
            username=name,
            email=address,
            password_hash=password_hash,
            roles=granted,
            created_at=now,
            updated_at=now,
        )
        detail: dict[str, DetailValue] | None = None
        if by_admin:
            detail = {**by_whom(actor_id), **({"invited": True} if password is None else {})}
        event = self._event(
            "admin_user_create" if by_admin else "register",
            client,
            now,
            user_id=user.id,
            actor_id=actor_id,
            detail=detail,
        )
        async with self.db.transaction() as tx:
            await tx.users.add(user)
            await tx.audit.add(event)
        if not by_admin and self.on_registered is not None:
            self.on_registered(user)
        return user

    async def existing_account(self, email: str, client: ClientInfo = NO_CLIENT) -> None:
        """Someone tried to register `email`, which is taken (and the caller is not told): audit it on the
        owner's record and tell the owner, through `on_existing_account`, when a mailer has set it."""
        errors: list[FieldError] = []
        address = check_email(email, errors)
        if errors:
            return
        async with self.db.reader() as r:
            owner = await r.users.get_by_login(login_key(address))
        if owner is None:
            return
        event = self._event(
            "register", client, self.clock(), user_id=owner.id, outcome="failure", detail={"reason": "email_taken"}
        )
        async with self.db.writer() as w:
            await w.audit.add(event)
        if self.on_existing_account is not None:
            await self.on_existing_account(owner, client)

    # -- sessions ------------------------------------------------------------------------------------------

    async def login(self, login: str, password: str, client: ClientInfo) -> TokenPair:
        """Rate limits and back-off per account (the guard) come before any hashing; an unknown account costs
        the same time and gets the same answers as a wrong password."""
        key = login_key(login)
        guard = self.guard
        attempt = await guard.begin(key, client.device_token) if guard is not None else None
        await self.pool.shed_if_full()  # before the query, whether or not the account exists
        found = None
        if "\x00" not in key:  # no stored name holds a NUL (PostgreSQL text cannot)
            async with self.db.reader() as r:
                found = await r.users.get_for_login(key)
        user, two_step = found if found is not None else (None, False)
        if guard is not None and attempt is not None:
            await guard.admit(attempt, key, user)
        if user is None:
            await self.pool.run(self.hasher.verify_dummy, password)
            await self._login_failed(attempt, None, client, "unknown_account")
            raise InvalidCredentials()
        ok, needs_rehash = await self.pool.run(self.hasher.verify, user.password_hash, password)
        if not ok or user.disabled:
            await self._login_failed(attempt, user, client, "disabled" if ok else "wrong_password")
            raise InvalidCredentials()
        # Only after the password: without it, nobody learns whether the address is verified.
        await self._refuse_unverified(attempt, user, client)
        if needs_rehash:
            user.password_hash = await self.pool.run(self.hasher.hash, password)
        device_token = await guard.succeeded(attempt, user) if guard is not None and attempt is not None else None
        known_device = attempt is not None and attempt.device is not None
        second_step = self._second_step(user, "password", two_step)
        if second_step is not None:
            if needs_rehash:
                async with self.db.transaction() as tx:
                    user.updated_at = self.clock()
                    await tx.users.update(user)
            raise second_step
        return await self._start_session(user, client, device_token, rehashed=needs_rehash, known_device=known_device)

    async def login_second_factor(self, mfa_token: str, code: str, client: ClientInfo) -> TokenPair:
        """The second step of a login that answered MfaRequired: its `mfa_token` and a code of the user's
        authenticator (or a recovery code), behind the account's limit and back-off for codes."""
        second = self.second_factors
        if second is None:
            raise InvalidMfaToken()
        challenge = second.challenges.open(mfa_token)
        async with self.db.reader() as r:
            user = await r.users.get(challenge.user_id)
        if user is None or user.disabled or not second.challenges.follows_current_password(challenge, user):
            raise InvalidMfaToken()  # gone, disabled, or its password changed or reset since the first step
        try:
            method = await second.verify(user, code, client)
        except MfaNotEnabled:
            raise InvalidMfaToken() from None  # turned off since the password step: that login is over
        device_token = self._device_token(user)
        return await self._start_session(user, client, device_token, second_factor=method, method=challenge.method)

    async def login_email_link(self, token: str, client: ClientInfo) -> TokenPair:
        """A login with a link mailed to the address (AUTHGATE_EMAIL_LOGIN: `redeem_login_link` is set): the
        link's token, used up; then, as after a password, MfaRequired when two-step login is on."""
        redeem = self.redeem_login_link
        if redeem is None:
            raise EmailLoginDisabled()
        user = await redeem(token)
        second = self.second_factors
        second_step = self._second_step(user, "email_link", second is not None and await second.required(user.id))
        if second_step is not None:
            raise second_step
        return await self._start_session(user, client, self._device_token(user), method="email_link")

    async def login_passkey(self, credential: Mapping[str, Any], client: ClientInfo) -> TokenPair:
        """A login with a passkey: what the browser's `navigator.credentials.get()` answered to a login challenge.
        No code follows (the passkey is two factors already); an unverified email is refused as at login."""
        if self.passkeys is None:
            raise InvalidPasskey()
        user = await self.passkeys.authenticate(credential, client)
        await self._refuse_unverified(None, user, client)
        return await self._start_session(user, client, self._device_token(user), method="passkey")

    async def _refuse_unverified(self, attempt: Attempt | None, user: User, client: ClientInfo) -> None:
        """EmailNotVerified (the login audited as failed) when the policy wants a verified address and the user's
        is not."""
        if self.policy.require_verified_email and not user.email_verified:
            await self._login_failed(attempt, user, client, "email_not_verified")
            raise EmailNotVerified()

    def _second_step(self, user: User, first: LoginMethod, required: bool) -> MfaRequired | None:
        """The answer that asks for the code of two-step login after `first`, when it is `required` (the user has
        a confirmed authenticator)."""
        second = self.second_factors
        if second is None or not required:
            return None
        return MfaRequired(second.challenges.issue(user, first), second.challenges.ttl)

    def _device_token(self, user: User) -> str | None:
        """Proof for the client's next logins that it is a known device (after a login that had no password
        attempt to record it; `LoginGuard.succeeded` makes it for those)."""
        return self.guard.devices.issue(user) if self.guard is not None else None

    async def _start_session(
        self,
        user: User,
        client: ClientInfo,
        device_token: str | None,
        *,
        rehashed: bool = False,
        known_device: bool = False,
        second_factor: str | None = None,
        method: LoginMethod = "password",
    ) -> TokenPair:
        """A new session for a user who has proved who they are; `rehashed`: write the user's new hash too."""
        now = self.clock()
        session = Session(
            id=new_id(),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(seconds=self.policy.session_ttl),
            user_agent=client.user_agent[:512],
            ip=client.ip,
            second_factor=second_factor,
            method=method,
        )
        refresh = new_refresh_token()
        detail: dict[str, DetailValue] = {"session_id": session.id, "known_device": known_device}
        if second_factor is not None:
            detail["second_factor"] = second_factor
        if method != "password":
            detail["method"] = method
        event = self._event("login_success", client, now, user_id=user.id, detail=detail)
        # Without a new hash to write, one atomic call: one round trip on PostgreSQL.
        async with self.db.transaction() if rehashed else self.db.writer() as w:
            if rehashed:
                user.updated_at = now
                await w.users.update(user)
            await w.sessions.add(session, self._refresh_record(refresh, session, now), event)
        return self.token_pair(user, session, refresh, device_token)

    async def _login_failed(self, attempt: Attempt | None, user: User | None, client: ClientInfo, reason: str) -> None:
        """Audit a failed login, and the lockout when this failure is the one that engages the back-off: one
        statement (the limits in front bound how many)."""
        now = self.clock()
        user_id = user.id if user is not None else None
        events = [
            self._event("login_failure", client, now, user_id=user_id, outcome="failure", detail={"reason": reason})
        ]
        if attempt is not None and self.guard is not None:
            lockout = self.guard.lockout(attempt, client, user_id, {"known_device": attempt.device is not None})
            events += [lockout] if lockout is not None else []
        async with self.db.writer() as w:
            await w.audit.add(*events)

    async def logout(self, principal: Principal, client: ClientInfo = NO_CLIENT) -> None:
        now = self.clock()
        async with self.db.transaction() as tx:
            await tx.sessions.end(principal.session.id, now)
            await tx.audit.add(self._session_event("logout", principal, client, now, principal.session.id))

    async def authenticate(self, token: str) -> Principal:
        """The caller behind a bearer access token, or InvalidAccessToken / SessionEnded."""
        try:
            claims = self.tokens.verify(token)
        except UnknownKey:
            if not await self.keys.reload_for_unknown_kid(self.tokens):
                raise
            claims = self.tokens.verify(token)
        if not is_id(claims.sid):
            raise InvalidAccessToken()
        cache = self.session_cache
        found = cache.get(claims.sid) if cache is not None else None
        if found is None:
            generation = cache.generation if cache is not None else 0
            async with self.db.reader() as r:
                found = await r.sessions.get_with_user(claims.sid)
            if found is None:
                raise SessionEnded()
            if cache is not None:
                cache.put(*found, generation)
        session, user = found
        if user.id != claims.sub:
            raise InvalidAccessToken()
        if not session.is_active(self.clock()) or user.disabled:
            raise SessionEnded()
        return Principal(claims, user, session)

    async def sessions(self, principal: Principal) -> list[Session]:
        async with self.db.reader() as r:
            return await r.sessions.list_for_user(principal.user.id, self.clock())

    async def end_session(self, principal: Principal, session_id: str, client: ClientInfo = NO_CLIENT) -> None:
        """End one of the caller's own sessions (SessionNotFound for anyone else's, or an unknown id)."""
        if not is_id(session_id):
            raise SessionNotFound()
        async with self.db.transaction() as tx:
            session = await tx.sessions.get(session_id)
            if session is None or session.user_id != principal.user.id or not session.is_active(self.clock()):
                raise SessionNotFound()
            await tx.sessions.end(session_id, self.clock())
            await tx.audit.add(self._session_event("session_end", principal, client, self.clock(), session_id))

    async def logout_all(
        self, principal: Principal, *, keep_current: bool = False, client: ClientInfo = NO_CLIENT
    ) -> int:
        keep = principal.session.id if keep_current else None
        now = self.clock()
        async with self.db.transaction() as tx:
            ended = await tx.sessions.end_all_for_user(principal.user.id, now, keep=keep)
            await tx.audit.add(
                self._event("logout_all", client, now, user_id=principal.user.id, detail={"ended": ended, "kept": keep})
            )
            return ended

    async def change_password(
        self, principal: Principal, current: str, new: str, client: ClientInfo = NO_CLIENT
    ) -> None:
        """Needs the current password; ends every other session of the user (ASVS 3.3.3) and cancels a pending
        email change and password reset link."""
        user = principal.user
        await self.reauth.confirm(user, current, client, "change_password", "current_password")
        errors: list[FieldError] = []
        check_new_password(
            new,
            errors,
            reject_common=self.policy.reject_common_passwords,
            personal=(user.username, user.email),
            field="new_password",
        )
        if errors:
            raise ValidationFailed(errors)
        user.password_hash = await self.pool.run(self.hasher.hash, new)
        now = self.clock()
        user.updated_at = now
        async with self.db.transaction() as tx:
            await tx.users.update(user)
            ended = await tx.sessions.end_all_for_user(user.id, now, keep=principal.session.id)
            # Whoever knew the old password may have started an email change (or asked for a reset link):
            # the new password cancels it.
            await tx.email_tokens.revoke(user.id, ("change_email", "reset_password"), now)
            await tx.audit.add(
                self._event("password_change", client, now, user_id=user.id, detail={"other_sessions_ended": ended})
            )

    # -- helpers -------------------------------------------------------------------------------------------

    _event = staticmethod(client_event)

    def _session_event(
        self, name: str, principal: Principal, client: ClientInfo, now: datetime, session_id: str
    ) -> AuditEvent:
        return self._event(name, client, now, user_id=principal.user.id, detail={"session_id": session_id})

    def _refresh_record(self, token: str, session: Session, now: datetime) -> RefreshToken:
        expires = min(now + timedelta(seconds=self.policy.refresh_token_ttl), session.expires_at)
        return RefreshToken(
            token_hash=hash_refresh_token(token), session_id=session.id, created_at=now, expires_at=expires
        )

    def token_pair(self, user: User, session: Session, refresh: str, device_token: str | None = None) -> TokenPair:
        """A new access token for the user's session, with `refresh` (also `RefreshRotation`'s)."""
        access = self.tokens.issue(
            user_id=user.id,
            session_id=session.id,
            roles=user.roles,
            username=user.username,
            email_verified=user.email_verified,
            amr=session.amr,
        )
        return TokenPair(access, refresh, self.policy.access_token_ttl, session.id, user.id, device_token)
