"""Rate-limit policies, the in-process moving window and the login back-off (pure, with fake clocks)."""

from __future__ import annotations

import asyncio

import pytest

from authgate.config import ConfigError, load_settings
from authgate.domain.ratelimits import (
    DEFAULT_RATE_LIMITS,
    BackoffPolicy,
    Limit,
    Rate,
    RateLimits,
    account_key,
    describe,
    parse_rate,
    parse_rate_limits,
)
from authgate.errors import RateLimited
from authgate.ratelimit.memory import MemoryBackoff, MemoryRateLimiter


def test_parse_rate() -> None:
    assert parse_rate("10/minute") == Rate(10, "minute")
    assert parse_rate(" 5 / hours ") == Rate(5, "hour")
    assert parse_rate("3 per day") == Rate(3, "day")
    assert parse_rate("1/second").seconds == 1 and parse_rate("2/hour").seconds == 3600
    for bad in ("", "ten/minute", "10", "10/fortnight", "0/minute", "-1/minute", "1000001/second", "1.5/minute"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_parse_policies_and_describe() -> None:
    limits = parse_rate_limits(DEFAULT_RATE_LIMITS)
    assert limits[("login", "ip")] == Limit("login", "ip", Rate(20, "minute"))
    assert limits[("login", "account")].rate == Rate(100, "hour")
    assert set(limits) == {
        ("login", "ip"),
        ("login", "account"),
        ("register", "ip"),
        ("refresh", "ip"),
        ("email", "ip"),
        ("email", "account"),
        ("mfa", "ip"),
        ("mfa", "account"),
        ("password", "account"),
    }
    assert parse_rate_limits(describe(limits)) == limits


def test_entries_replace_defaults_and_none_removes() -> None:
    base = parse_rate_limits(DEFAULT_RATE_LIMITS)
    limits = parse_rate_limits(" LOGIN: ip = 50/minute ; refresh:ip=none;", base)
    assert limits[("login", "ip")].rate == Rate(50, "minute")
    assert limits[("login", "account")] == base[("login", "account")]
    assert ("refresh", "ip") not in limits


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("logon:ip=1/minute", "logon"),
        ("login:device=1/minute", "device"),
        ("login:ip=1/fortnight", "fortnight"),
        ("login=1/minute", "login=1/minute"),
        ("login:ip", "ip"),
    ],
)
def test_bad_policies_name_the_bad_part(text: str, names: str) -> None:
    with pytest.raises(ValueError, match=names):
        parse_rate_limits(text)
    with pytest.raises(ConfigError, match="AUTHGATE_RATE_LIMITS"):
        load_settings({"AUTHGATE_RATE_LIMITS": text})


def test_settings_validate_redis() -> None:
    with pytest.raises(ConfigError, match="AUTHGATE_REDIS_URL"):
        load_settings({"AUTHGATE_REDIS_URL": "http://127.0.0.1:6379"})
    with pytest.raises(ConfigError, match="AUTHGATE_REDIS_PREFIX"):
        load_settings({"AUTHGATE_REDIS_PREFIX": "has space"})
    assert load_settings({"AUTHGATE_REDIS_URL": "redis://127.0.0.1:6379/3"}).redis_url == "redis://127.0.0.1:6379/3"


def test_account_key_is_a_digest_not_the_login() -> None:
    key = account_key("alice@example.com")
    assert len(key) == 32 and "alice" not in key
    assert key == account_key("alice@example.com") != account_key("bob@example.com")
    account_key("\ud800 lone surrogate")  # whatever was typed


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LOGIN_IP = Limit("login", "ip", Rate(3, "minute"))


async def test_moving_window_is_exact_and_tells_when_to_retry() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock)
    for _ in range(3):
        await limiter.hit(LOGIN_IP, "192.0.2.1")
        clock.now += 10
    with pytest.raises(RateLimited) as refused:
        await limiter.hit(LOGIN_IP, "192.0.2.1")
    assert refused.value.retry_after == 30  # the first hit (at 1000) leaves the window at 1060; now is 1030
    assert not await limiter.test(LOGIN_IP, "192.0.2.1")
    await limiter.hit(LOGIN_IP, "192.0.2.2")  # another key has its own window
    clock.now = 1060.5
    await limiter.hit(LOGIN_IP, "192.0.2.1")  # the first hit left the window
    with pytest.raises(RateLimited):
        await limiter.hit(LOGIN_IP, "192.0.2.1")
    await limiter.clear(LOGIN_IP, "192.0.2.1")
    assert await limiter.test(LOGIN_IP, "192.0.2.1")


async def test_refused_hits_are_not_counted() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock)
    for _ in range(3):
        await limiter.hit(LOGIN_IP, "k")
    for _ in range(100):
        with pytest.raises(RateLimited):
            await limiter.hit(LOGIN_IP, "k")
    clock.now += 60.01
    await limiter.hit(LOGIN_IP, "k")


async def test_stale_keys_are_swept() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock)
    for i in range(1000):
        await limiter.hit(LOGIN_IP, f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 1000
    clock.now += 120
    await limiter.hit(LOGIN_IP, "one more")
    assert len(limiter) == 1


async def test_rate_limits_facade() -> None:
    limiter = MemoryRateLimiter(FakeClock())
    limits = parse_rate_limits("login:ip=1/minute,account=2/hour;email:account=1/hour")
    facade = RateLimits(limiter, limits, enabled=True)
    await facade.hit("login", ip="192.0.2.1")
    with pytest.raises(RateLimited):
        await facade.hit("login", ip="192.0.2.1")
    await facade.hit("login", account="alice")
    await facade.hit("login", account="ALICE-is-another-key")
    await facade.hit("login", account="alice")
    with pytest.raises(RateLimited):
        await facade.hit("login", account="alice")
    await facade.hit("register", ip="192.0.2.1")  # no register policy here: unlimited
    await facade.hit("email", ip="192.0.2.1", account="a@example.com")
    with pytest.raises(RateLimited):
        await facade.hit("email", ip="192.0.2.1", account="a@example.com")
    with pytest.raises(ValueError):
        await facade.hit("emial", ip="192.0.2.1")
    off = RateLimits(limiter, limits, enabled=False)
    for _ in range(10):
        await off.hit("login", ip="192.0.2.1")


def test_backoff_delays_double_up_to_the_cap() -> None:
    policy = BackoffPolicy(threshold=5, cap=900)
    assert [policy.delay(n) for n in range(1, 5)] == [0, 0, 0, 0]
    assert [policy.delay(n) for n in range(5, 11)] == [1, 2, 4, 8, 16, 32]
    assert policy.delay(15) == 900 and policy.delay(10_000) == 900


async def test_backoff_admits_threshold_attempts_then_one_per_wait() -> None:
    policy = BackoffPolicy(threshold=3, cap=8)
    backoff = MemoryBackoff(policy)
    now = 1000.0
    assert [(await backoff.acquire("k", now)).attempts for _ in range(3)] == [1, 2, 3]
    refused = await backoff.acquire("k", now)
    assert refused.wait == 1 and refused.attempts == 0
    assert (await backoff.acquire("k", now + 1)).attempts == 4  # admitted: the next one waits 2 s
    assert (await backoff.acquire("k", now + 2)).wait == 1
    assert (await backoff.acquire("k", now + 3)).attempts == 5  # and then 4 s
    assert (await backoff.acquire("k", now + 6.5)).wait == 0.5
    assert (await backoff.acquire("other", now + 3)).attempts == 1
    now += 7
    for _ in range(10):  # capped at 8 s
        admitted = await backoff.acquire("k", now)
        assert admitted.wait == 0
        now += 8
    await backoff.reset("k")
    assert (await backoff.acquire("k", now)).attempts == 1


async def test_backoff_admits_exactly_threshold_attempts_at_once() -> None:
    backoff = MemoryBackoff(BackoffPolicy(threshold=5, cap=900))
    admissions = await asyncio.gather(*(backoff.acquire("k", 1000.0) for _ in range(50)))
    assert sum(a.wait == 0 for a in admissions) == 5


async def test_backoff_forgets_after_a_quiet_while() -> None:
    backoff = MemoryBackoff(BackoffPolicy(threshold=2, cap=10, forget_after=3600))
    for _ in range(2):
        await backoff.acquire("k", 1000.0)
    assert (await backoff.acquire("k", 1000.0)).wait > 0
    assert (await backoff.acquire("k", 1000.0 + 3601)).attempts == 1
