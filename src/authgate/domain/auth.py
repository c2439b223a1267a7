"""The authentication use cases: register, log in, refresh, log out, and authenticate a bearer token.

Each use case owns its transaction. Password hashing, the slow part, always runs in the hash pool and never
inside a transaction, so a database connection is never held while a hash is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

from authgate.domain.clock import Clock
from authgate.domain.ids import is_id, new_id
from authgate.domain.passwords import HashPool, PasswordHasher, check_new_password
from authgate.domain.sessions import (
    MAX_REFRESH_TOKEN_LENGTH,
    RefreshToken,
    Session,
    hash_refresh_token,
    new_refresh_token,
    successor_of,
)
from authgate.domain.signing import SigningKeys
from authgate.domain.tokens import AccessClaims, AccessTokens, UnknownKey
from authgate.domain.users import User, check_email, check_roles, check_username, login_key
from authgate.errors import (
    FieldError,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    RegistrationClosed,
    SessionEnded,
    SessionNotFound,
    ValidationFailed,
)
from authgate.storage.base import Database, SessionStore


class AuthPolicy(msgspec.Struct, frozen=True, kw_only=True):
    access_token_ttl: int = 900
    refresh_token_ttl: int = 14 * 24 * 3600
    session_ttl: int = 30 * 24 * 3600
    refresh_grace_seconds: int = 10
    registration_open: bool = True
    reject_common_passwords: bool = True
    roles: tuple[str, ...] = ("admin", "user")
    default_roles: tuple[str, ...] = ("user",)


class TokenPair(msgspec.Struct, frozen=True):
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    user_id: str


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the verified token, its user and its session."""

    claims: AccessClaims
    user: User
    session: Session


class ClientInfo(msgspec.Struct, frozen=True):
    ip: str = ""
    user_agent: str = ""


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
    ) -> None:
        self.db = db
        self.policy = policy
        self.hasher = hasher
        self.pool = pool
        self.keys = keys
        self.tokens = tokens
        self.clock = clock

    # -- accounts ------------------------------------------------------------------------------------------

    async def register(
        self,
        username: str,
        email: str,
        password: str,
        *,
        roles: Sequence[str] | None = None,
        by_admin: bool = False,
    ) -> User:
        if not (by_admin or self.policy.registration_open):
            raise RegistrationClosed()
        errors: list[FieldError] = []
        name = check_username(username, errors)
        address = check_email(email, errors)
        granted = check_roles(self.policy.default_roles if roles is None else roles, self.policy.roles, errors)
        check_new_password(
            password, errors, reject_common=self.policy.reject_common_passwords, personal=(name, address)
        )
        if errors:
            raise ValidationFailed(errors)
        password_hash = await self.pool.run(self.hasher.hash, password)
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
        async with self.db.transaction() as tx:
            await tx.users.add(user)
        return user

    # -- sessions ------------------------------------------------------------------------------------------

    async def login(self, login: str, password: str, client: ClientInfo) -> TokenPair:
        key = login_key(login)
        user = None
        if "\x00" not in key:  # no stored name holds a NUL (PostgreSQL text cannot)
            async with self.db.reader() as r:
                user = await r.users.get_by_login(key)
        if user is None:
            await self.pool.run(self.hasher.verify_dummy, password)
            raise InvalidCredentials()
        ok, needs_rehash = await self.pool.run(self.hasher.verify, user.password_hash, password)
        if not ok or user.disabled:
            raise InvalidCredentials()
        if needs_rehash:
            user.password_hash = await self.pool.run(self.hasher.hash, password)
        now = self.clock()
        session = Session(
            id=new_id(),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(seconds=self.policy.session_ttl),
            user_agent=client.user_agent[:512],
            ip=client.ip,
        )
        refresh = new_refresh_token()
        async with self.db.transaction() as tx:
            if needs_rehash:
                user.updated_at = now
                await tx.users.update(user)
            await tx.sessions.add(session, self._refresh_record(refresh, session, now))
        return self._pair(user, session, refresh)

    async def refresh(self, presented: str) -> TokenPair:
        if not presented or len(presented) > MAX_REFRESH_TOKEN_LENGTH:
            raise InvalidRefreshToken()
        now = self.clock()
        token_hash = hash_refresh_token(presented)
        reused = False
        async with self.db.transaction() as tx:
            token = await tx.sessions.lock_token(token_hash)
            if token is None:
                raise InvalidRefreshToken()
            found = await tx.sessions.get_with_user(token.session_id)
            if found is None:
                raise InvalidRefreshToken()
            session, user = found
            if not session.is_active(now) or user.disabled:
                raise SessionEnded()
            successor = successor_of(presented, self.keys.rotation_secret)
            if token.rotated_at is None:
                if token.expires_at <= now:
                    raise InvalidRefreshToken("The refresh token has expired")
                await tx.sessions.rotate(token, self._refresh_record(successor, session, now), now)
            elif now - token.rotated_at <= timedelta(seconds=self.policy.refresh_grace_seconds) and (
                await self._is_current(tx.sessions, token)
            ):
                pass  # a concurrent refresh from the same client: answer with the same successor
            else:
                await tx.sessions.end(session.id, now)
                reused = True
        if reused:
            raise RefreshTokenReused()
        return self._pair(user, session, successor)

    async def logout(self, principal: Principal) -> None:
        async with self.db.transaction() as tx:
            await tx.sessions.end(principal.session.id, self.clock())

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
        async with self.db.reader() as r:
            found = await r.sessions.get_with_user(claims.sid)
        if found is None:
            raise SessionEnded()
        session, user = found
        if user.id != claims.sub:
            raise InvalidAccessToken()
        if not session.is_active(self.clock()) or user.disabled:
            raise SessionEnded()
        return Principal(claims, user, session)

    async def sessions(self, principal: Principal) -> list[Session]:
        async with self.db.reader() as r:
            return await r.sessions.list_for_user(principal.user.id, self.clock())

    async def end_session(self, principal: Principal, session_id: str) -> None:
        """End one of the caller's own sessions (SessionNotFound for anyone else's, or an unknown id)."""
        if not is_id(session_id):
            raise SessionNotFound()
        async with self.db.transaction() as tx:
            session = await tx.sessions.get(session_id)
            if session is None or session.user_id != principal.user.id or not session.is_active(self.clock()):
                raise SessionNotFound()
            await tx.sessions.end(session_id, self.clock())

    async def logout_all(self, principal: Principal, *, keep_current: bool = False) -> int:
        keep = principal.session.id if keep_current else None
        async with self.db.transaction() as tx:
            return await tx.sessions.end_all_for_user(principal.user.id, self.clock(), keep=keep)

    async def change_password(self, principal: Principal, current: str, new: str) -> None:
        """Needs the current password; ends every other session of the user (ASVS 3.3.3)."""
        user = principal.user
        ok, _ = await self.pool.run(self.hasher.verify, user.password_hash, current)
        if not ok:
            raise ValidationFailed([FieldError("current_password", "is not your current password")])
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
            await tx.sessions.end_all_for_user(user.id, now, keep=principal.session.id)

    # -- helpers -------------------------------------------------------------------------------------------

    def _refresh_record(self, token: str, session: Session, now: datetime) -> RefreshToken:
        expires = min(now + timedelta(seconds=self.policy.refresh_token_ttl), session.expires_at)
        return RefreshToken(
            token_hash=hash_refresh_token(token), session_id=session.id, created_at=now, expires_at=expires
        )

    @staticmethod
    async def _is_current(sessions: SessionStore, token: RefreshToken) -> bool:
        """Whether `token`'s successor has not been rotated yet (so `token` is its immediate predecessor)."""
        if token.successor_hash is None:
            return False
        successor = await sessions.get_token(token.successor_hash)
        return successor is not None and successor.rotated_at is None

    def _pair(self, user: User, session: Session, refresh: str) -> TokenPair:
        access = self.tokens.issue(
            user_id=user.id,
            session_id=session.id,
            roles=user.roles,
            username=user.username,
            email_verified=user.email_verified,
        )
        return TokenPair(access, refresh, self.policy.access_token_ttl, session.id, user.id)
