"""The session cache's bookkeeping (tests/contract/test_change_feed.py runs it with PostgreSQL's change feed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authgate.domain.session_cache import SessionCache
from authgate.domain.sessions import Session
from authgate.domain.users import User

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def user(uid: str = "u1") -> User:
    return User(
        id=uid,
        username="alice",
        email="alice@example.com",
        password_hash="$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        roles=("user",),
        created_at=NOW,
        updated_at=NOW,
    )


def session(sid: str = "s1", uid: str = "u1") -> Session:
    return Session(
        id=sid, user_id=uid, created_at=NOW, last_used_at=NOW, expires_at=NOW + timedelta(days=1), user_agent="", ip=""
    )


def live_cache(ttl: float = 10, max_entries: int = 100) -> tuple[SessionCache, Clock]:
    clock = Clock()
    cache = SessionCache(ttl, max_entries, now=clock)
    cache.live = True
    return cache, clock


def test_an_entry_is_answered_until_its_ttl() -> None:
    cache, clock = live_cache(ttl=10)
    cache.put(session(), user(), cache.generation)
    assert cache.get("s1") == (session(), user())
    clock.t += 9.9
    assert cache.get("s1") is not None
    clock.t += 0.1
    assert cache.get("s1") is None and len(cache) == 0


def test_nothing_is_stored_while_the_feed_is_not_live() -> None:
    cache, _ = live_cache()
    cache.live = False
    cache.put(session(), user(), cache.generation)
    assert cache.get("s1") is None


def test_a_change_forgets_every_session_of_that_user_and_only_theirs() -> None:
    cache, _ = live_cache()
    cache.put(session("s1", "u1"), user("u1"), cache.generation)
    cache.put(session("s2", "u1"), user("u1"), cache.generation)
    cache.put(session("s3", "u2"), user("u2"), cache.generation)
    cache.forget_user("u1")
    assert cache.get("s1") is None and cache.get("s2") is None
    assert cache.get("s3") is not None


def test_what_was_read_before_a_change_is_not_stored_after_it() -> None:
    cache, _ = live_cache()
    generation = cache.generation  # a lookup begins...
    cache.forget_user("u9")  # ...a change is told meanwhile (of anyone: the cache cannot know whom it read)...
    cache.put(session(), user(), generation)  # ...and what it read may be older than the change
    assert cache.get("s1") is None
    cache.put(session(), user(), cache.generation)
    assert cache.get("s1") is not None


def test_forget_all_empties_it() -> None:
    cache, _ = live_cache()
    cache.put(session("s1", "u1"), user("u1"), cache.generation)
    cache.put(session("s2", "u2"), user("u2"), cache.generation)
    cache.forget_all()
    assert len(cache) == 0 and cache.get("s1") is None


def test_it_holds_at_most_max_entries_dropping_the_oldest() -> None:
    cache, _ = live_cache(max_entries=3)
    for i in range(5):
        cache.put(session(f"s{i}", f"u{i}"), user(f"u{i}"), cache.generation)
    assert len(cache) == 3
    assert [cache.get(f"s{i}") is not None for i in range(5)] == [False, False, True, True, True]
    cache.forget_user("u0")  # a user whose entry was dropped: nothing left behind to trip over
    assert len(cache) == 3


def test_what_it_hands_out_are_copies() -> None:
    cache, _ = live_cache()
    original = user()
    cache.put(session(), original, cache.generation)
    original.password_hash = "changed before the cache saw it"  # the caller's object is not the cache's
    first = cache.get("s1")
    assert first is not None
    first[1].password_hash = "changed by a use case whose transaction then failed"
    second = cache.get("s1")
    assert second is not None and second[1].password_hash == user().password_hash
