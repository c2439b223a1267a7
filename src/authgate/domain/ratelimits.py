"""Rate limits and login back-off: the policies, and the seams that enforce them.

A *limit* counts attempts at one endpoint per client IP or per account in a moving window
(`login:ip=20/minute`); over it, the attempt is refused with `RateLimited` (429 with Retry-After) before any
real work is done. The *back-off* slows guessing at one account: after `threshold` consecutive failed logins,
each further attempt must wait 1, 2, 4, ... seconds, up to `cap`. Both are enforced behind small Protocols
(`RateLimiter`, `Backoff`) that Redis implements for every instance at once, and memory for one process.

Accounts are keyed by a digest of the normalised login (`account_key`), whether or not such an account exists,
so a 429 never tells a known account from an unknown one (and Redis never holds an email in the clear).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Protocol

import msgspec

from authgate.errors import RateLimited

ENDPOINTS = ("login", "register", "refresh", "email", "mfa", "password")
"""The endpoints a policy may name; `email` is every endpoint that sends an email, `mfa` every one that checks a
code of a second factor, `password` every one that asks a signed-in user for their password again."""
SCOPES = ("ip", "account")
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
DEFAULT_RATE_LIMITS = (
    "login:ip=20/minute,account=100/hour;register:ip=5/minute;refresh:ip=300/minute;email:ip=5/minute,account=3/hour;"
    "mfa:ip=20/minute,account=30/hour;password:account=30/hour"
)


class Rate(msgspec.Struct, frozen=True):
    amount: int
    unit: str
    """second, minute, hour or day"""

    @property
    def seconds(self) -> int:
        return UNITS[self.unit]

    def __str__(self) -> str:
        return f"{self.amount}/{self.unit}"


class Limit(msgspec.Struct, frozen=True):
    endpoint: str
    scope: str
    rate: Rate

    @property
    def name(self) -> str:
        return f"{self.endpoint}:{self.scope}"


def parse_rate(text: str) -> Rate:
    """`10/minute` (also `10/minutes`, `10 per minute`) → Rate; ValueError when it is not one."""
    amount, sep, unit = text.replace(" per ", "/").partition("/")
    unit = unit.strip().lower().removesuffix("s")
    if not sep or not amount.strip().isdigit() or unit not in UNITS:
        raise ValueError(f"{text.strip()!r} is not a rate (N/second, N/minute, N/hour or N/day)")
    value = int(amount)
    if not 1 <= value <= 100_000:
        raise ValueError(f"{text.strip()!r}: the count must be 1 to 100000")
    return Rate(value, unit)


def parse_rate_limits(text: str, base: Mapping[tuple[str, str], Limit] | None = None) -> dict[tuple[str, str], Limit]:
    """Parse `endpoint:scope=N/unit[,scope=N/unit][;endpoint:...]` over `base` (each entry replaces that
    endpoint and scope of `base`; `scope=none` removes it). ValueError names the bad part."""
    limits = dict(base or {})
    for entry in text.split(";"):
        if not entry.strip():
            continue
        endpoint, sep, rules = entry.partition(":")
        endpoint = endpoint.strip().lower()
        if not sep or endpoint not in ENDPOINTS:
            raise ValueError(f"{entry.strip()!r}: expected one of {', '.join(ENDPOINTS)}, then ':'")
        for rule in rules.split(","):
            scope, sep, rate = rule.partition("=")
            scope = scope.strip().lower()
            if not sep or scope not in SCOPES:
                raise ValueError(f"{endpoint}: {rule.strip()!r}: expected ip=N/unit or account=N/unit")
            if rate.strip().lower() in ("none", "off"):
                limits.pop((endpoint, scope), None)
                continue
            try:
                limits[(endpoint, scope)] = Limit(endpoint, scope, parse_rate(rate))
            except ValueError as exc:
                raise ValueError(f"{endpoint}:{scope}: {exc}") from None
    return limits


def describe(limits: Mapping[tuple[str, str], Limit]) -> str:
    """The policies in the syntax they are written in, for logs and docs."""
    by_endpoint: dict[str, list[str]] = {}
    for (endpoint, scope), limit in sorted(limits.items()):
        by_endpoint.setdefault(endpoint, []).append(f"{scope}={limit.rate}")
    return ";".join(f"{e}:{','.join(rules)}" for e, rules in by_endpoint.items())


def account_key(login_key: str) -> str:
    """What limits and back-off count an account by: a digest of its normalised login (known or not)."""
    return hashlib.sha256(login_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RateLimiter(Protocol):
    """Counts attempts per (limit, key) in a moving window, atomically."""

    async def hit(self, limit: Limit, key: str) -> None:
        """Count one attempt; raise RateLimited (with the seconds until one is allowed) when over the limit.
        A refused attempt is not counted."""

    async def test(self, limit: Limit, key: str) -> bool:
        """Whether an attempt would be allowed now, without counting it."""

    async def clear(self, limit: Limit, key: str) -> None: ...


class BackoffPolicy(msgspec.Struct, frozen=True):
    threshold: int = 5
    """Attempts at a key (since its last success) that need not wait; each one after that waits."""
    cap: int = 900
    """The longest wait, seconds."""
    base: float = 1.0
    """The first wait, seconds; each further attempt doubles it."""
    forget_after: int = 3600
    """The attempts at a key are forgotten this long after the last one."""

    def delay(self, attempts: int) -> float:
        """How long the attempt after the `attempts`-th must wait (0: none)."""
        if attempts < self.threshold:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(attempts - self.threshold, 40)))


class Admission(msgspec.Struct, frozen=True):
    wait: float
    """0 when admitted; otherwise the seconds until an attempt may be made (nothing was counted)."""
    attempts: int = 0
    """When admitted: the attempts at the key since its last success, this one included."""


class Backoff(Protocol):
    """Attempts per key since the key's last success, and the waits they impose, shared by every attempt.

    An attempt is counted when it is admitted (not when it fails), atomically with the check, so that however
    many attempts arrive at once, exactly `threshold` are admitted without waiting and then one per wait."""

    async def acquire(self, key: str, now: float) -> Admission: ...

    async def reset(self, key: str) -> None:
        """Forget the attempts at `key` (a successful login)."""


def retry_after(seconds: float) -> RateLimited:
    return RateLimited(max(1, int(seconds + 0.999)), "Too many attempts; try again later")


class RateLimits:
    """The configured limits, enforced by `limiter`: what handlers and use cases call.

    `hit("login", ip=...)`, `hit("login", account=login_key)`, `hit("email", ip=..., account=email_key)`;
    an endpoint and scope without a configured limit (or `enabled=False`) costs nothing.
    """

    def __init__(self, limiter: RateLimiter, limits: Mapping[tuple[str, str], Limit], *, enabled: bool) -> None:
        self.limiter = limiter
        self.enabled = enabled
        self.limits = dict(limits) if enabled else {}

    async def hit(self, endpoint: str, *, ip: str | None = None, account: str | None = None) -> None:
        """Count an attempt at `endpoint` by `ip` and/or at `account` (a normalised login or email key);
        raises RateLimited when either is over its limit."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"no rate-limit policy is named {endpoint!r}")
        if not self.limits:
            return
        if ip is not None:
            limit = self.limits.get((endpoint, "ip"))
            if limit is not None:
                await self.limiter.hit(limit, ip)
        if account is not None:
            limit = self.limits.get((endpoint, "account"))
            if limit is not None:
                await self.limiter.hit(limit, account_key(account))
