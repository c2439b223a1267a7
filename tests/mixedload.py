"""Mixed traffic against a live server, the way people use it, with a ledger of every write acknowledged.

Virtual users register, log in, ask who they are, refresh, now and then change their password, and log out;
an admin lists users; a guesser tries wrong passwords at one login from one address (its 401s and 429s are the
intended ones). The pace is fixed (requests per second over all users), so that a test loads the server the
same on a quiet or a busy machine, up to what it can serve.

Each virtual user comes from its own address per account (X-Forwarded-For; the server must trust 127.0.0.1),
so the production rate limits can stay on: only the guesser meets them.

A write is *acknowledged* when its success status came back (201 register, 204 password change, 204 logout);
the ledger holds those, and `verify()` checks afterwards that every one is still there. A write that got no
clear answer (a 503, a lost connection) may or may not have happened: the user then forgets that account or
session, and the ledger does not count it.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from rawclient import Connection, Reply, RequestFailed

PASSWORD = "a-long-and-unusual-passphrase"

EXPECTED: dict[str, frozenset[int]] = {
    "register": frozenset({201}),
    "login": frozenset({200}),
    "me": frozenset({200}),
    "refresh": frozenset({200}),
    "password": frozenset({204}),
    "logout": frozenset({204}),
    "users": frozenset({200}),
    "guess": frozenset({401, 429}),  # the guesser: wrong passwords, then the limits
    "ready": frozenset({200}),
}
"""What each kind of request answers when all is well."""


@dataclass(slots=True)
class Outcome:
    kind: str
    sent_at: float
    """When the request went out (monotonic); for one that could not connect, when the attempt began."""
    took: float
    status: int | None
    code: str | None = None
    """The problem+json `code`, if the answer was a problem."""
    error: str | None = None
    """No answer: why (the exception's name, or Timeout)."""
    sent: bool = True
    connection: int = 0
    reused: bool = False
    """The request went out on a keep-alive connection that had served others before."""
    problem_json: bool = False
    retry_after: bool = False
    note: str | None = None
    """For `ready`: what the readiness check said about the rate limits and the database."""
    worker: str = ""
    """Which worker process answered: the prefix of the X-Request-ID it gave (random per process)."""

    @property
    def ok(self) -> bool:
        return self.status in EXPECTED[self.kind]

    @property
    def label(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        return f"{self.status} {self.code}" if self.code else str(self.status)


@dataclass
class Account:
    username: str
    user_id: str
    password: str
    old_passwords: list[str] = field(default_factory=list)
    password_known: bool = True
    """False once a password change got no clear answer: the password may be either."""


@dataclass(frozen=True)
class EndedSession:
    access_token: str
    refresh_token: str


@dataclass
class Ledger:
    accounts: list[Account] = field(default_factory=list)
    ended: list[EndedSession] = field(default_factory=list)

    @property
    def password_changes(self) -> int:
        return sum(len(a.old_passwords) for a in self.accounts)


class Pacer:
    """Hands out send times at a fixed rate, shared by every virtual user."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(self.next, now - self.interval)  # no burst to catch up after a stall
        self.next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def _json(value: object) -> bytes:
    return msgspec.json.encode(value)


def _segment(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def session_id(access_token: str) -> str:
    return str(_segment(access_token, 1)["sid"])


def kid_of(access_token: str) -> str:
    return str(_segment(access_token, 0)["kid"])


class MixedLoad:
    def __init__(
        self,
        url: str,
        *,
        users: int = 8,
        rate: float = 100.0,
        admin: tuple[str, str] | None = None,
        guesser: bool = True,
        ready_every: float | None = 0.25,
        timeout: float = 30.0,
        seed: int = 1,
    ) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.users = users
        self.pacer = Pacer(rate)
        self.admin = admin
        self.guesser = guesser
        self.ready_every = ready_every
        self.timeout = timeout
        self.seed = seed
        self.run_id = uuid.uuid4().hex[:6]
        self.outcomes: list[Outcome] = []
        self.ledger = Ledger()
        self.stop_at = float("inf")
        self._addresses = itertools.count(1)
        self._names = itertools.count(1)

    def stop(self, after: float = 0.0) -> None:
        self.stop_at = time.monotonic() + after

    @property
    def running(self) -> bool:
        return time.monotonic() < self.stop_at

    async def run(self) -> None:
        tasks = [self._user(i) for i in range(self.users)]
        if self.admin is not None:
            tasks.append(self._admin(*self.admin))
        if self.guesser:
            tasks.append(self._guess())
        if self.ready_every:
            tasks.append(self._ready(self.ready_every))
        await asyncio.gather(*tasks)

    def _address(self) -> str:
        n = next(self._addresses)
        return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"

    async def _call(
        self,
        conn: Connection,
        kind: str,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
        *,
        paced: bool = True,
    ) -> Reply | None:
        if paced:
            await self.pacer.wait()
        data = None if body is None else _json(body)
        try:
            reply = await conn.request(method, path, data, headers)
        except RequestFailed as exc:
            took = time.monotonic() - conn.sent_at
            self.outcomes.append(
                Outcome(kind, conn.sent_at, took, None, error=exc.error, sent=exc.sent, connection=conn.id,
                        reused=conn.reused and exc.sent)
            )  # fmt: skip
            return None
        took = time.monotonic() - conn.sent_at
        problem = reply.headers.get("content-type", "").startswith("application/problem+json")
        self.outcomes.append(
            Outcome(kind, conn.sent_at, took, reply.status, code=reply.code, connection=conn.id, reused=conn.reused,
                    problem_json=problem, retry_after="retry-after" in reply.headers,
                    worker=reply.headers.get("x-request-id", "").rpartition("-")[0])
        )  # fmt: skip
        return reply

    async def _user(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        conn = Connection(self.host, self.port, timeout=self.timeout)
        account: Account | None = None
        tokens: dict[str, str] | None = None
        ip = ""
        try:
            while self.running:
                if account is None:
                    ip = self._address()
                    name = f"u{self.run_id}-{next(self._names)}"
                    reply = await self._call(
                        conn, "register", "POST", "/auth/register",
                        {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
                        {"X-Forwarded-For": ip},
                    )  # fmt: skip
                    if reply is not None and reply.status == 201:
                        user = reply.json()
                        assert isinstance(user, dict)
                        account = Account(name, user["id"], PASSWORD)
                        self.ledger.accounts.append(account)
                    continue
                forwarded = {"X-Forwarded-For": ip}
                if tokens is None:
                    reply = await self._call(
                        conn, "login", "POST", "/auth/login",
                        {"username": account.username, "password": account.password}, forwarded,
                    )  # fmt: skip
                    if reply is not None and reply.status == 200:
                        body = reply.json()
                        assert isinstance(body, dict)
                        tokens = body
                    continue
                auth = {**forwarded, "Authorization": f"Bearer {tokens['access_token']}"}
                roll = rng.random()
                if roll < 0.05:
                    reply = await self._call(conn, "logout", "POST", "/auth/logout", None, auth)
                    if reply is not None and reply.status == 204:
                        self.ledger.ended.append(EndedSession(tokens["access_token"], tokens["refresh_token"]))
                    tokens = None
                    if rng.random() < 0.6:
                        account = None  # the next virtual user's turn with a new account
                elif roll < 0.06:
                    new = f"{PASSWORD}-{rng.randrange(10**9)}"
                    reply = await self._call(
                        conn, "password", "POST", "/auth/password",
                        {"current_password": account.password, "new_password": new}, auth,
                    )  # fmt: skip
                    if reply is not None and reply.status == 204:
                        account.old_passwords.append(account.password)
                        account.password = new
                    else:  # after a 5xx or no answer, the change may have been made or not
                        account.password_known = reply is not None and reply.status < 500
                        account, tokens = None, None
                elif roll < 0.22:
                    reply = await self._call(
                        conn, "refresh", "POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]}, forwarded
                    )
                    if reply is not None and reply.status == 200:
                        body = reply.json()
                        assert isinstance(body, dict)
                        tokens = body
                    else:
                        tokens = None  # rotated or not: log in again
                else:
                    reply = await self._call(conn, "me", "GET", "/auth/me", None, auth)
                    if reply is None or reply.status != 200:
                        tokens = None
        finally:
            conn.close()

    async def _admin(self, username: str, password: str) -> None:
        conn = Connection(self.host, self.port, timeout=self.timeout)
        headers = {"X-Forwarded-For": "192.0.2.10"}
        token = None
        listed = 0
        try:
            while self.running:
                if token is None:
                    headers = {"X-Forwarded-For": f"192.0.2.{listed // 1000 % 250 + 1}"}
                    reply = await self._call(
                        conn, "login", "POST", "/auth/login", {"username": username, "password": password}, headers
                    )
                    if reply is not None and reply.status == 200:
                        body = reply.json()
                        assert isinstance(body, dict)
                        token = body["access_token"]
                    continue
                listed += 1
                query = "?limit=50" if listed % 3 else f"?limit=20&q=u{self.run_id}-{listed % 10}"
                reply = await self._call(
                    conn, "users", "GET", f"/users{query}", None, {**headers, "Authorization": f"Bearer {token}"}
                )
                if reply is None or reply.status != 200:
                    token = None
                elif listed % 5 == 0:
                    body = reply.json()
                    assert isinstance(body, dict)
                    if body.get("next_cursor"):  # the next page of the same listing (a cursor is for that only)
                        await self._call(
                            conn, "users", "GET", f"/users{query}&cursor={body['next_cursor']}", None,
                            {**headers, "Authorization": f"Bearer {token}"},
                        )  # fmt: skip
                if listed % 1000 == 0:
                    token = None  # log in again now and then (within the login limits), as an admin would
        finally:
            conn.close()

    async def _guess(self) -> None:
        conn = Connection(self.host, self.port, timeout=self.timeout)
        headers = {"X-Forwarded-For": "198.51.100.66"}
        try:
            while self.running:
                await asyncio.sleep(0.25)  # the guesser's own pace, a few per second
                await self._call(
                    conn, "guess", "POST", "/auth/login",
                    {"username": f"victim-{self.run_id}", "password": "wrong-password-guess"}, headers, paced=False,
                )  # fmt: skip
        finally:
            conn.close()

    async def _ready(self, every: float) -> None:
        conn = Connection(self.host, self.port, timeout=self.timeout)
        try:
            while self.running:
                reply = await self._call(conn, "ready", "GET", "/health/ready", None, None, paced=False)
                if reply is not None and reply.body:
                    body = reply.json()
                    if isinstance(body, dict):
                        checks = body.get("checks", {})
                        self.outcomes[-1].note = f"{checks.get('database')} | {checks.get('rate_limits')}"
                await asyncio.sleep(every)
        finally:
            conn.close()


# --- what happened ----------------------------------------------------------------------------------------------


def between(outcomes: Iterable[Outcome], start: float, end: float, kinds: Iterable[str] | None = None) -> list[Outcome]:
    wanted = None if kinds is None else set(kinds)
    return [o for o in outcomes if start <= o.sent_at < end and (wanted is None or o.kind in wanted)]


def tally(outcomes: Iterable[Outcome]) -> dict[str, dict[str, int]]:
    """{kind: {label: count}}, e.g. {"me": {"200": 812, "503 database_unavailable": 40}}."""
    table: dict[str, Counter[str]] = {}
    for o in outcomes:
        table.setdefault(o.kind, Counter())[o.label] += 1
    return {kind: dict(sorted(counts.items())) for kind, counts in sorted(table.items())}


def unexpected(outcomes: Iterable[Outcome]) -> Counter[tuple[str, str]]:
    return Counter((o.kind, o.label) for o in outcomes if not o.ok)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, min(998, round(p * 10) - 1))]


def latencies(outcomes: Iterable[Outcome]) -> dict[str, dict[str, float]]:
    """{kind: {"p50_ms", "p99_ms", "max_ms"}} over the requests that were answered."""
    by_kind: dict[str, list[float]] = {}
    for o in outcomes:
        if o.status is not None:
            by_kind.setdefault(o.kind, []).append(o.took * 1000)
    return {
        kind: {
            "p50_ms": round(percentile(v, 50), 2),
            "p99_ms": round(percentile(v, 99), 2),
            "max_ms": round(max(v), 2),
        }
        for kind, v in sorted(by_kind.items())
    }


# --- every acknowledged write is still there --------------------------------------------------------------------


async def verify(url: str, ledger: Ledger, admin_token: str, *, logins: int | None = None) -> list[str]:
    """Check the ledger against the server; what is missing or wrong (empty when everything is there).

    Every acknowledged registration is fetched through the admin API; every account whose password change was
    acknowledged logs in with its newest password and is refused with the one before; every session whose
    logout was acknowledged is refused, both its access and its refresh token. `logins`: how many of the other
    accounts also log in (all of them by default; each costs one password hash).
    """
    host, _, port = url.removeprefix("http://").partition(":")
    problems: list[str] = []
    addresses = itertools.count(1)

    def address() -> dict[str, str]:
        """A client address of its own for each check, so that the checks stay within the rate limits."""
        n = next(addresses)
        return {"X-Forwarded-For": f"172.16.{n // 250 % 250}.{n % 250 + 1}"}

    work: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
    quiet = [a for a in ledger.accounts if not a.old_passwords and a.password_known]
    checked_logins = {id(a) for a in quiet[: len(quiet) if logins is None else logins]}
    for account in ledger.accounts:
        work.put_nowait(("exists", account))
        if account.password_known and (account.old_passwords or id(account) in checked_logins):
            work.put_nowait(("login", account))
    for ended in ledger.ended:
        work.put_nowait(("ended", ended))

    async def check(conn: Connection, what: str, item: object) -> None:
        admin = {"Authorization": f"Bearer {admin_token}"}
        if what == "exists":
            assert isinstance(item, Account)
            reply = await conn.request("GET", f"/users/{item.user_id}", None, admin)
            user = reply.json()
            if reply.status != 200 or not isinstance(user, dict) or user.get("username") != item.username:
                problems.append(f"registered {item.username}: GET /users/{item.user_id} answered {reply.status}")
        elif what == "login":
            assert isinstance(item, Account)
            ip = address()
            body = _json({"username": item.username, "password": item.password})
            reply = await conn.request("POST", "/auth/login", body, ip)
            if reply.status != 200:
                problems.append(f"{item.username}: login with the acknowledged password answered {reply.status}")
            if item.old_passwords:
                old = _json({"username": item.username, "password": item.old_passwords[-1]})
                reply = await conn.request("POST", "/auth/login", old, ip)
                if reply.status != 401:
                    problems.append(f"{item.username}: login with the replaced password answered {reply.status}")
        else:
            assert isinstance(item, EndedSession)
            reply = await conn.request("GET", "/auth/me", None, {"Authorization": f"Bearer {item.access_token}"})
            if reply.status != 401:
                problems.append(f"session {session_id(item.access_token)} logged out, /auth/me answered {reply.status}")
            body = _json({"refresh_token": item.refresh_token})
            reply = await conn.request("POST", "/auth/refresh", body, address())
            if reply.status != 401:
                problems.append(f"session {session_id(item.access_token)} logged out, refresh answered {reply.status}")

    async def worker() -> None:
        conn = Connection(host, int(port), timeout=60)
        try:
            while not work.empty():
                what, item = work.get_nowait()
                await check(conn, what, item)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(4)))
    return problems


# --- faults: before, during, after ------------------------------------------------------------------------------


async def until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait until `check()` holds (looked at every 20 ms); when it did (monotonic). Fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic()


def answered_since(load: MixedLoad, at: float, *, ok: bool | None = None, kinds: Iterable[str] | None = None) -> int:
    wanted = None if kinds is None else set(kinds)
    return sum(
        1
        for o in load.outcomes
        if o.sent_at >= at and (ok is None or o.ok == ok) and (wanted is None or o.kind in wanted)
    )


def all_ok_for(load: MixedLoad, after: float, seconds: float, kinds: Iterable[str] | None = None) -> float | None:
    """The start of the first run of `seconds` after `after` in which every request (of `kinds`) succeeded and
    some were answered; None while there is none yet. Requests still in flight count once answered."""
    wanted = None if kinds is None else set(kinds)
    chosen = sorted(
        (o for o in load.outcomes if o.sent_at >= after and (wanted is None or o.kind in wanted)),
        key=lambda o: o.sent_at,
    )
    start = None
    for o in chosen:
        if not o.ok:
            start = None
        elif start is None:
            start = o.sent_at
        elif o.sent_at - start >= seconds:
            return start
    return None


def phases(outcomes: Iterable[Outcome], fault: float, recovered: float, end: float) -> dict[str, list[Outcome]]:
    """`before`: answered before the fault began; `during`: the rest of those sent before the service recovered
    (the requests in flight when the fault came included); `after`: sent from the recovery on."""
    split: dict[str, list[Outcome]] = {"before": [], "during": [], "after": []}
    for o in outcomes:
        if o.sent_at + o.took < fault:
            split["before"].append(o)
        elif o.sent_at < recovered:
            split["during"].append(o)
        elif o.sent_at < end:
            split["after"].append(o)
    return split


def phase_figures(split: dict[str, list[Outcome]], seconds: dict[str, float]) -> dict[str, object]:
    """Per phase: its length, requests by kind and answer, and latency."""
    return {
        name: {
            "seconds": round(seconds[name], 2),
            "requests": len(chosen),
            "failed": sum(1 for o in chosen if not o.ok),
            "by_kind_and_status": tally(chosen),
            "latency_ms": latencies(chosen),
        }
        for name, chosen in split.items()
    }


OUTPUT = Path(__file__).resolve().parents[1] / "test-output"


def save_figures(name: str, figures: dict[str, object]) -> Path:
    """Write figures to test-output/<name>.json (not committed) and print them (pytest -s shows them)."""
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\n{name} ({path}):\n{json.dumps(figures, indent=2)}")
    return path


async def login_token(url: str, username: str, password: str = PASSWORD) -> str:
    """An access token of `username` (from an address of its own, out of the way of the load's limits)."""
    host, _, port = url.removeprefix("http://").partition(":")
    conn = Connection(host, int(port))
    try:
        body = _json({"username": username, "password": password})
        reply = await conn.request("POST", "/auth/login", body, {"X-Forwarded-For": "192.0.2.200"})
        data = reply.json()
        assert reply.status == 200 and isinstance(data, dict), reply.body
        token: str = data["access_token"]
        return token
    finally:
        conn.close()
