"""The load scenarios of issue #4. Each checks its endpoint's answer, then measures it with wrk.

A scenario returns its measurements by step ("" when it has one step); the runner records them per
placement, round and server, and the report takes medians and ratios.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

import checks
import cpuwatch
import fixtures
import hashcost
import wrk
from httpclient import call
from targets import Placement, Target
from wrk import Load, WrkResult


@dataclass(frozen=True)
class Sizes:
    duration_s: int
    warmup_s: int
    ping_connections: int
    fake_login_connections: int
    real_login_connections: int
    me_connections: int
    me_tokens: int
    refresh_connections: int
    users_connections: int
    users_page: int
    seeded_users: int
    ramp: tuple[int, ...]
    storm_connections: int
    probe_connections: int
    hash_samples: int
    strict: bool
    """Any answer >= 400 under load is a failure (smoke: the load is too small to excuse one)."""
    quiet_wait_s: int
    """Before a scenario, wait up to this long for other processes to leave the CPUs. A scenario during which
    they used more than DISTURBED cores is run once more."""
    quiet_budget_s: int
    """The most a whole run spends on such waits and re-runs; 0: neither wait nor re-run."""


FULL = Sizes(
    duration_s=8, warmup_s=1, ping_connections=1000, fake_login_connections=1000, real_login_connections=16,
    me_connections=256, me_tokens=32, refresh_connections=64, users_connections=256, users_page=50,
    seeded_users=60, ramp=(500, 1000, 2000, 3000), storm_connections=128, probe_connections=4, hash_samples=20,
    strict=False, quiet_wait_s=60, quiet_budget_s=900,
)
SMOKE = Sizes(
    duration_s=1, warmup_s=0, ping_connections=50, fake_login_connections=50, real_login_connections=4,
    me_connections=16, me_tokens=2, refresh_connections=4, users_connections=16, users_page=50, seeded_users=3,
    ramp=(20, 40), storm_connections=8, probe_connections=2, hash_samples=3, strict=True,
    quiet_wait_s=0, quiet_budget_s=0,
)
DISTURBED = 0.25


@dataclass(frozen=True)
class Context:
    target: Target
    port: int
    server_pid: int
    placement: Placement
    sizes: Sizes
    build: Path

    def load(
        self, path: str, connections: int, *, script: str | None = None, env: dict[str, str] | None = None,
        threads: int | None = None, duration_s: int | None = None,
    ) -> Load:
        return Load(
            url=f"http://127.0.0.1:{self.port}{path}", connections=connections,
            threads=threads or min(self.placement.wrk_threads, connections),
            duration_s=duration_s or self.sizes.duration_s, script=script, env=env or {},
            cpus=self.placement.load_cpus,
        )

    def run(self, load: Load, background: tuple[int, ...] = ()) -> WrkResult:
        """One wrk run; `background`: pids of other load generators running meanwhile (counted as wrk)."""
        before = cpuwatch.snapshot(self.server_pid, background)
        result = wrk.run(load, self.build)
        return replace(result, cpu=cpuwatch.cores_used(before, cpuwatch.snapshot(self.server_pid, background)))

    def measure(self, load: Load) -> WrkResult:
        """A warm-up run (discarded), then the measured one."""
        if self.sizes.warmup_s:
            self.run(replace(load, duration_s=self.sizes.warmup_s))
        return self.run(load)

    def hash_ms(self) -> float:
        """One hash with the target's implementation, on the CPUs the server runs on (hashcost.beside), once the
        server has finished what it was doing: the logins still queued when wrk stops would take half the CPU
        (the kernel shares it between sessions first, whatever the threads' priorities)."""
        cpuwatch.wait_quiet(self.server_pid, 30, threshold=0.05, sample_s=0.25, who="server")
        impl = "go_x_crypto" if self.target.name.startswith("gin") else "argon2_cffi"
        gin_real = self.build / "bin" / "gin-real"
        return hashcost.beside(impl, self.placement.server_cpus, gin_real, self.sizes.hash_samples)

    def tokens_file(self, name: str, tokens: list[str]) -> Path:
        path = self.build / "tokens" / f"{self.target.name}-{name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(tokens) + "\n")
        return path


Result = dict[str, WrkResult]


def ping(ctx: Context) -> Result:
    checks.ping(ctx.port)
    return {"": ctx.measure(ctx.load("/ping", ctx.sizes.ping_connections))}


def login_fake(ctx: Context) -> Result:
    checks.fake_login(ctx.port)
    body = json.dumps(checks.SEED_LOGIN)
    load = ctx.load("/login", ctx.sizes.fake_login_connections, script="post_json.lua", env={"BENCH_BODY": body})
    return {"": ctx.measure(load)}


def login_real(ctx: Context) -> Result:
    """Logins/s, and the time of one hash on the server's CPUs just before and after (their mean goes into the
    result as `hash_ms`: the limit of that round, not of the run's start, on a VM whose speed drifts); for
    authgate also the CPU one of its own hashes took meanwhile, from its metrics (`own_hash_cpu_ms`)."""
    checks.real_login(ctx.port)
    body = json.dumps({"username": fixtures.ADMIN, "password": fixtures.PASSWORD})
    load = ctx.load(
        "/auth/login", ctx.sizes.real_login_connections, script="post_json.lua", env={"BENCH_BODY": body}
    )
    before = ctx.hash_ms()
    own = ctx.target.name.startswith("authgate")
    cpu_before = hash_cpu(ctx.port) if own else None
    result = ctx.measure(load)
    hash_ms = (before + ctx.hash_ms()) / 2
    extra = {**result.extra, "hash_ms": hash_ms}
    if cpu_before is not None:
        (cpu, count), (cpu0, count0) = hash_cpu(ctx.port), cpu_before
        if count > count0:
            extra["own_hash_cpu_ms"] = 1000 * (cpu - cpu0) / (count - count0)
    return {"": replace(result, extra=extra)}


def hash_cpu(port: int) -> tuple[float, float]:
    """authgate's own account of its login hashes (its /metrics): CPU seconds spent in them, and how many."""
    wanted = {"authgate_password_hash_cpu_seconds_total": 0.0, "authgate_password_hash_duration_seconds_count": 0.0}
    for family in text_string_to_metric_families(call(port, "GET", "/metrics").body.decode()):
        for sample in family.samples:
            if sample.name in wanted and sample.labels.get("operation") == "verify":
                wanted[sample.name] = sample.value
    return wanted["authgate_password_hash_cpu_seconds_total"], wanted["authgate_password_hash_duration_seconds_count"]


def _logins(ctx: Context, count: int) -> list[fixtures.Tokens]:
    names = [fixtures.user_name(i % ctx.sizes.seeded_users) for i in range(count)]
    return fixtures.login_many(ctx.port, names)


def me(ctx: Context) -> Result:
    tokens = _logins(ctx, ctx.sizes.me_tokens)
    checks.me(ctx.port, tokens[0].access, fixtures.user_name(0))
    path = ctx.tokens_file("access", [t.access for t in tokens])
    load = ctx.load(
        "/auth/me", ctx.sizes.me_connections, script="bearer.lua", env={"BENCH_TOKENS_FILE": str(path)}
    )
    return {"": ctx.measure(load)}


def refresh(ctx: Context) -> Result:
    checks.refresh(ctx.port, fixtures.login(ctx.port, fixtures.user_name(0)))
    connections = ctx.sizes.refresh_connections
    # One family per connection, plus one for the request wrk builds to verify the script.
    tokens = _logins(ctx, connections + 1)
    path = ctx.tokens_file("refresh", [t.refresh for t in tokens])
    load = ctx.load(
        "/auth/refresh", connections, script="refresh_chain.lua", env={"BENCH_TOKENS_FILE": str(path)}
    )
    return {"": ctx.run(load)}  # no warm-up: it would spend the token families


def users(ctx: Context) -> Result:
    admin = fixtures.login(ctx.port, fixtures.ADMIN)
    path = f"/users?limit={ctx.sizes.users_page}"
    checks.users_page(ctx.port, admin.access, path, min(ctx.sizes.users_page, ctx.sizes.seeded_users + 1))
    tokens = ctx.tokens_file("admin", [admin.access])
    load = ctx.load(path, ctx.sizes.users_connections, script="bearer.lua", env={"BENCH_TOKENS_FILE": str(tokens)})
    return {"": ctx.measure(load)}


def io_ramp(ctx: Context) -> Result:
    path = ctx.target.io_path
    assert path is not None
    checks.io(ctx.port, path)
    results: Result = {}
    for step, connections in enumerate(ctx.sizes.ramp):
        load = ctx.load(path, connections)
        results[str(connections)] = ctx.measure(load) if step == 0 else ctx.run(load)
    return results


def ping_under_login_storm(ctx: Context) -> Result:
    """/ping latency from a few connections, alone and while a login storm saturates the hash pool."""
    checks.ping(ctx.port)
    checks.real_login(ctx.port)
    probe = ctx.load("/ping", ctx.sizes.probe_connections, threads=1)
    idle = ctx.run(probe)
    body = json.dumps({"username": fixtures.ADMIN, "password": fixtures.PASSWORD})
    storm_load = ctx.load(
        "/auth/login", ctx.sizes.storm_connections, script="post_json.lua", env={"BENCH_BODY": body},
        duration_s=ctx.sizes.duration_s + 2,
    )
    before = cpuwatch.snapshot(ctx.server_pid)
    storm = wrk.spawn(storm_load, ctx.build)
    try:
        time.sleep(1)  # let the storm fill the hash pool first
        under = ctx.run(probe, background=(storm.pid,))
    finally:
        logins = wrk.collect(storm, storm_load)
    logins = replace(logins, cpu=cpuwatch.cores_used(before, cpuwatch.snapshot(ctx.server_pid)))
    return {"idle": idle, "storm": under, "logins": logins}


@dataclass(frozen=True)
class Scenario:
    key: str
    number: int
    title: str
    kind: str
    """How the report shows it: throughput, login, ramp or storm."""
    applies: Callable[[Target], bool]
    run: Callable[[Context], Result]
    baselines: tuple[str, ...]
    """The Gin servers whose figures, in the same round, give the ratios."""
    note: str = ""
    needs_users: bool = False
    """Runs on the seeded users (registered before the first such scenario, not before `/ping`, whose memory
    figure is issue #10's)."""


SEED_GINS = ("gin-new", "gin-default")

SCENARIOS = [
    Scenario("ping", 1, "GET /ping", "throughput", lambda t: True, ping, SEED_GINS),
    Scenario("login-fake", 2, "POST /login, the seed's fake login (string comparison)", "throughput",
             lambda t: t.fake_login, login_fake, SEED_GINS),
    Scenario("login-real", 2, "POST /auth/login, real login (argon2id + session + EdDSA token)", "login",
             lambda t: t.real_auth, login_real, ("gin-real",), needs_users=True),
    Scenario("me", 3, "GET /auth/me with a valid token (signature check + user and session lookup)",
             "throughput", lambda t: t.real_auth, me, ("gin-real",), needs_users=True),
    Scenario("refresh", 4, "POST /auth/refresh (single-use token rotated atomically)", "throughput",
             lambda t: t.real_auth, refresh, ("gin-real",), needs_users=True),
    Scenario("users", 5, "GET /users?limit=50 with an admin token (keyset page)", "throughput",
             lambda t: t.real_auth, users, ("gin-real",), needs_users=True),
    Scenario("io-ramp", 6, "10 ms I/O endpoint, ramp of connections", "ramp",
             lambda t: t.io_path is not None, io_ramp, SEED_GINS),
    Scenario("ping-under-login-storm", 7, "GET /ping latency while a login storm saturates the hash pool",
             "storm", lambda t: t.real_auth, ping_under_login_storm, ("gin-real",), needs_users=True),
]
