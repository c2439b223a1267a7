"""The sessions this worker checked recently, with their users: an authenticated request needs no round trip.

A bearer token is verified locally (`tokens.py`), but whether its session still holds (not ended, not expired,
its user not disabled) is the database's to say, and that check was the one round trip of `GET /auth/me`. This
cache answers it from memory, under one condition: the database tells this worker about every change. On
PostgreSQL, triggers notify every listening worker of every instance of the users whose account or sessions
changed, at commit (`migrations/0007_change_notifications.postgres.sql`, `storage/postgres_changes.py`), and a
worker's own writes are forgotten here as they commit, before the answer that follows them. So a logout is
refused at once by the worker that made it, and by the others as soon as the notification reaches them (well
under a millisecond on one machine). Nothing is cached while the notifications are not arriving (before the
feed connects, or after it lost its connection: everything is forgotten then), and an entry is used for `ttl`
seconds at most in any case.

Entries are copies: a use case may change the user it was given (a password change sets the new hash before
its transaction commits), and what the cache holds must stay what the database said.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

from authgate.domain.sessions import Session
from authgate.domain.users import User


class SessionCache:
    __slots__ = ("_by_user", "_entries", "_now", "generation", "live", "max_entries", "ttl")

    def __init__(self, ttl: float, max_entries: int = 10_000, now: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._now = now
        self._entries: dict[str, tuple[float, Session, User]] = {}  # session id -> (cached at, session, user)
        self._by_user: dict[str, set[str]] = {}  # user id -> their cached session ids
        self.live = False
        """Whether changes are arriving; set by the change feed. Nothing is cached or answered otherwise."""
        self.generation = 0
        """Counts the forgetting. A lookup that began before a change must not store what it read: it takes the
        generation before it reads and `put` stores nothing if it moved on meanwhile."""

    def get(self, session_id: str) -> tuple[Session, User] | None:
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        cached_at, session, user = entry
        if self._now() - cached_at >= self.ttl:
            self._drop(session_id, user.id)
            return None
        return copy.copy(session), copy.copy(user)

    def put(self, session: Session, user: User, generation: int) -> None:
        if not self.live or generation != self.generation:
            return
        entries = self._entries
        if session.id not in entries and len(entries) >= self.max_entries:
            oldest = next(iter(entries))  # dicts keep insertion order: the oldest entry goes
            self._drop(oldest, entries[oldest][2].id)
        entries[session.id] = (self._now(), copy.copy(session), copy.copy(user))
        self._by_user.setdefault(user.id, set()).add(session.id)

    def forget_user(self, user_id: str) -> None:
        """The user's account or one of their sessions changed."""
        self.generation += 1
        for session_id in self._by_user.pop(user_id, ()):
            self._entries.pop(session_id, None)

    def forget_all(self) -> None:
        """Changes may have been missed (the feed reconnected, or stopped)."""
        self.generation += 1
        self._entries.clear()
        self._by_user.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, session_id: str, user_id: str) -> None:
        del self._entries[session_id]
        sessions = self._by_user.get(user_id)
        if sessions is not None:
            sessions.discard(session_id)
            if not sessions:
                del self._by_user[user_id]
