"""Refresh-token rotation: a refresh token is traded once for a new pair, and a second use ends its session.

Each refresh token's successor is derived from it (`successor_of`, an HMAC under a server secret), so a client
that retries within `refresh_grace_seconds` (a lost response, two tabs racing) gets the same successor again,
as long as that successor has not been rotated itself. Any other reuse is taken for a stolen token: the session
ends and `refresh_reuse` is audited (OAuth 2.0 Security BCP, refresh token rotation).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from authgate.domain.auth import AuthPolicy, TokenPair
from authgate.domain.clients import NO_CLIENT, ClientInfo, client_event
from authgate.domain.clock import Clock
from authgate.domain.sessions import (
    MAX_REFRESH_TOKEN_LENGTH,
    RefreshToken,
    Session,
    hash_refresh_token,
    successor_of,
)
from authgate.domain.signing import SigningKeys
from authgate.domain.users import User
from authgate.errors import InvalidRefreshToken, RefreshTokenExpired, RefreshTokenReused, SessionEnded
from authgate.storage.base import Database, SessionStore

PairIssuer = Callable[[User, Session, str], TokenPair]
"""Signs the access token of a user's session and pairs it with a refresh token (`AuthService.token_pair`)."""


class RefreshRotation:
    def __init__(self, *, db: Database, policy: AuthPolicy, keys: SigningKeys, pair: PairIssuer, clock: Clock) -> None:
        self.db = db
        self.policy = policy
        self.keys = keys
        self.pair = pair
        self.clock = clock

    async def rotate(self, presented: str, client: ClientInfo = NO_CLIENT) -> TokenPair:
        """A new pair for a refresh token, which is used up; InvalidRefreshToken, RefreshTokenExpired,
        SessionEnded or RefreshTokenReused (the session ended) otherwise."""
        if not presented or len(presented) > MAX_REFRESH_TOKEN_LENGTH:
            raise InvalidRefreshToken()
        now = self.clock()
        token_hash = hash_refresh_token(presented)
        successor = successor_of(presented, self.keys.rotation_secret)
        # The common case, a rotatable token, in one round trip on PostgreSQL: one statement rotates it if it is
        # and writes nothing otherwise. Anything else (unknown, expired, of an ended session, rotated already, or
        # that race lost) is decided under the token's lock.
        async with self.db.writer() as w:
            rotated = await self._rotate_current(w.sessions, token_hash, successor, now)
        if rotated is not None:
            return rotated
        return await self._refused(token_hash, successor, now, client)

    async def _rotate_current(
        self, sessions: SessionStore, token_hash: bytes, successor: str, now: datetime
    ) -> TokenPair | None:
        longest = now + timedelta(seconds=self.policy.refresh_token_ttl)
        rotated = await sessions.rotate_current(token_hash, hash_refresh_token(successor), now, longest)
        if rotated is None:
            return None
        session, user = rotated
        return self.pair(user, session, successor)

    async def _refused(self, token_hash: bytes, successor: str, now: datetime, client: ClientInfo) -> TokenPair:
        """A refresh token that was not rotatable a moment ago. Rotated already: within the grace window, by the
        same client that rotated it (it is still its successor's immediate predecessor), the same successor again;
        otherwise a reuse, which ends the session."""
        reused = False
        async with self.db.transaction() as tx:
            token, session, user = _live(await tx.sessions.lock_token(token_hash), now)
            if token.rotated_at is None:
                if token.expires_at <= now:
                    raise RefreshTokenExpired()
                # Rotatable after all: nothing authgate does makes a refused token rotatable again (an operator's
                # SQL might); under the lock, this rotation succeeds.
                rotated = await self._rotate_current(tx.sessions, token_hash, successor, now)
                if rotated is None:
                    raise InvalidRefreshToken()  # not rotatable under its lock: no state known here
                return rotated
            grace = timedelta(seconds=self.policy.refresh_grace_seconds)
            if now - token.rotated_at <= grace and await _is_current(tx.sessions, token):
                pass  # a concurrent refresh from the same client: answer with the same successor
            else:
                await tx.sessions.end(session.id, now)
                detail = {"session_id": session.id}
                await tx.audit.add(
                    client_event("refresh_reuse", client, now, user_id=user.id, outcome="failure", detail=detail)
                )
                reused = True
        if reused:
            raise RefreshTokenReused()
        return self.pair(user, session, successor)


async def _is_current(sessions: SessionStore, token: RefreshToken) -> bool:
    """Whether `token`'s successor has not been rotated yet (so `token` is its immediate predecessor)."""
    if token.successor_hash is None:
        return False
    successor = await sessions.get_token(token.successor_hash)
    return successor is not None and successor.rotated_at is None


def _live(found: tuple[RefreshToken, Session, User] | None, now: datetime) -> tuple[RefreshToken, Session, User]:
    """A presented refresh token's row, if its session is still active and its user enabled."""
    if found is None:
        raise InvalidRefreshToken()
    _, session, user = found
    if not session.is_active(now) or user.disabled:
        raise SessionEnded()
    return found
