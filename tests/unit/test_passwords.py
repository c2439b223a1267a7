"""Password policy, hashing, rehash-on-login, and the bounded hash pool."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from authgate.domain.passwords import (
    SHED_DELAY_SECONDS,
    HashParameters,
    HashPool,
    HashPriority,
    PasswordHasher,
    ThreadMemory,
    check_new_password,
)
from authgate.domain.users import NO_PASSWORD
from authgate.errors import FieldError, Overloaded
from authgate.malloc import GLIBC
from mixedload import until

FAST = HashParameters(memory_kib=64, time_cost=1, parallelism=1)


def errors_for(password: str, **kwargs: object) -> list[str]:
    errors: list[FieldError] = []
    check_new_password(password, errors, **kwargs)  # type: ignore[arg-type]
    return [e.message for e in errors]


def test_policy() -> None:
    assert errors_for("a-decent-passphrase") == []
    assert errors_for("short") == ["must be at least 8 characters"]
    assert errors_for("x" * 1025) == ["must be at most 1024 characters"]
    assert errors_for("x" * 1024) == []
    assert errors_for("password") and errors_for("Password") and errors_for("qwerty123")
    assert errors_for("password", reject_common=False) == []
    assert errors_for("alice-the-user", personal=("Alice-The-User",))
    fullwidth_password = "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44"
    assert errors_for(fullwidth_password)  # NFKC turns it into "password"


def test_hash_is_self_describing_and_verifies() -> None:
    hasher = PasswordHasher(FAST)
    encoded = hasher.hash("correct horse")
    assert encoded.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert hasher.verify(encoded, "correct horse") == (True, False)
    assert hasher.verify(encoded, "wrong horse") == (False, False)
    # NFKC: the same password typed in a different Unicode form still matches.
    encoded = hasher.hash("\ufb01sh-and-chips")  # the fi ligature
    assert hasher.verify(encoded, "fish-and-chips")[0]


def test_old_parameters_verify_and_ask_for_a_rehash() -> None:
    old = PasswordHasher(FAST).hash("correct horse")
    stronger = PasswordHasher(HashParameters(memory_kib=128, time_cost=2, parallelism=1))
    assert stronger.verify(old, "correct horse") == (True, True)


@pytest.mark.parametrize("stored", ["", "plain", "$argon2id$garbage", "$2b$04$short", "pbkdf2:sha256:1$x$y"])
def test_malformed_stored_hash_never_matches(stored: str) -> None:
    assert PasswordHasher(FAST).verify(stored, "anything")[0] is False


async def test_pool_refuses_beyond_capacity_after_a_short_pause_and_takes_no_place() -> None:
    pool = HashPool(threads=1, queue_size=1)
    gate = threading.Event()
    try:
        first = asyncio.ensure_future(pool.run(gate.wait, 5))
        second = asyncio.ensure_future(pool.run(gate.wait, 5))
        await asyncio.sleep(0.05)
        assert pool.pending == 2 and pool.queued == 1
        started = time.monotonic()
        refused = asyncio.ensure_future(pool.run(gate.wait, 5))
        await asyncio.sleep(0)
        assert pool.pending == 2  # waiting to be refused is not a place in the queue
        with pytest.raises(Overloaded):
            await refused
        assert SHED_DELAY_SECONDS / 2 <= time.monotonic() - started < SHED_DELAY_SECONDS * 1.5 + 1
        gate.set()
        assert await first and await second
        assert pool.pending == 0
    finally:
        gate.set()
        pool.close()


async def test_refusals_are_spread_out_so_that_refused_clients_do_not_retry_in_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused together, answered apart: with one fixed pause, clients that retry at once stay in step and the
    event loop answers all of them in one stretch, which every other request waits behind. The pauses are
    read as they are asked for, not timed, so that a busy machine cannot bunch them up or spread them out."""
    pool = HashPool(threads=1, queue_size=0)
    gate = threading.Event()
    pauses: list[float] = []
    sleep = asyncio.sleep

    async def recorded_sleep(delay: float) -> None:
        pauses.append(delay)
        await sleep(0)

    try:
        busy = asyncio.ensure_future(pool.run(gate.wait, 5))
        await sleep(0.05)
        monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
        for outcome in await asyncio.gather(*(pool.run(gate.wait, 5) for _ in range(20)), return_exceptions=True):
            assert isinstance(outcome, Overloaded)
        monkeypatch.undo()
        assert len(pauses) == 20
        assert all(SHED_DELAY_SECONDS / 2 <= p < SHED_DELAY_SECONDS * 3 / 2 for p in pauses), pauses
        # 20 draws from a window of SHED_DELAY_SECONDS: all within a fifth of it has a chance below 1e-11
        assert max(pauses) - min(pauses) > SHED_DELAY_SECONDS / 5, pauses
        gate.set()
        assert await busy
    finally:
        gate.set()
        pool.close()


def test_legacy_hash_of_the_raw_password_verifies_and_asks_for_a_rehash() -> None:
    from werkzeug.security import generate_password_hash

    decomposed = "cafe\u0301-au-lait"  # "café" typed with a combining accent (macOS input); NFKC composes it
    legacy = generate_password_hash(decomposed, method="pbkdf2:sha256:1000")
    assert PasswordHasher(FAST).verify(legacy, decomposed) == (True, True)
    assert PasswordHasher(FAST).verify(legacy, "wrong")[0] is False


def test_argon2_hash_with_absurd_cost_is_refused_not_computed() -> None:
    hostile = "$argon2id$v=19$m=4194304,t=50,p=1$c2FsdHNhbHRzYWx0$" + "A" * 43
    assert PasswordHasher(FAST).verify(hostile, "anything") == (False, False)


def _scheduling() -> tuple[int, int]:
    tid = threading.get_native_id()
    return os.sched_getscheduler(tid), os.getpriority(os.PRIO_PROCESS, tid)


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread scheduling policy and niceness are Linux's")
@pytest.mark.parametrize(
    ("priority", "policy", "niceness"),
    [("idle", os.SCHED_IDLE, None), ("low", os.SCHED_OTHER, 19), ("normal", os.SCHED_OTHER, None)],
)
async def test_hashing_threads_run_at_their_priority_and_the_caller_keeps_its_own(
    priority: HashPriority, policy: int, niceness: int | None
) -> None:
    pool = HashPool(threads=1, queue_size=1, priority=priority)
    try:
        own = _scheduling()
        theirs = await pool.run(_scheduling)
        assert theirs == (policy, own[1] if niceness is None else niceness)
        assert _scheduling() == own
    finally:
        pool.close()


def test_the_dummy_hash_is_a_well_formed_hash_of_our_parameters_that_nothing_matches() -> None:
    import argon2

    hasher = PasswordHasher(FAST)
    dummy = hasher._dummy_hash
    real = hasher.hash("correct horse battery staple")
    assert dummy.rsplit("$", 2)[0] == real.rsplit("$", 2)[0]  # the same algorithm, version and parameters
    assert [len(part) for part in dummy.split("$")[-2:]] == [len(part) for part in real.split("$")[-2:]]
    with pytest.raises(argon2.exceptions.VerifyMismatchError):  # a full check that fails, not a parse error
        argon2.PasswordHasher().verify(dummy, "correct horse battery staple")
    assert PasswordHasher(FAST)._dummy_hash != dummy  # a fresh salt and digest per process


def test_an_account_without_a_password_matches_nothing_after_a_full_verification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An invited account (NO_PASSWORD) costs a login the time of a real verification, as an unknown one does."""
    hasher = PasswordHasher(FAST)
    verified: list[str] = []
    check = hasher._argon2_matches

    def counted(encoded: str, password: str) -> bool:
        verified.append(encoded)
        return check(encoded, password)

    monkeypatch.setattr(hasher, "_argon2_matches", counted)
    for attempt in ("", "anything", NO_PASSWORD, hasher._dummy_hash):
        assert hasher.verify(NO_PASSWORD, attempt) == (False, False)
    assert verified == [hasher._dummy_hash] * 4


class _Memory:
    """A ThreadMemory that records which threads gave their memory back, and whether inside `trimming`."""

    def __init__(self) -> None:
        self.trimming_now = False
        self.released: list[tuple[int, bool]] = []

    @contextlib.contextmanager
    def trimming(self) -> Iterator[None]:
        self.trimming_now = True
        try:
            yield
        finally:
            self.trimming_now = False

    def release_thread_arena(self) -> None:
        self.released.append((threading.get_ident(), self.trimming_now))


def _releasing(pool: HashPool, memory: ThreadMemory | None, after: float) -> HashPool:
    pool.release_memory_when_idle(memory, after)
    return pool


async def test_an_idle_pool_gives_its_threads_memory_back_once_on_each_thread() -> None:
    memory = _Memory()
    pool = _releasing(HashPool(threads=2, queue_size=4), memory, 0.1)
    gate = threading.Event()

    def hashes() -> int:
        gate.wait(5)
        return threading.get_ident()

    try:
        hashing = [asyncio.ensure_future(pool.run(hashes)) for _ in range(2)]  # both threads start
        await asyncio.sleep(0.3)
        assert pool.releases == 0  # never while hashes run
        gate.set()
        threads = set(await asyncio.gather(*hashing))
        assert pool.releases == 0  # the pool was idle for less than release_after
        await until(lambda: pool.releases == 1, 5, "a release")
        assert len(memory.released) == 2 and all(inside for _, inside in memory.released)
        assert {ident for ident, _ in memory.released} == threads and len(threads) == 2
        await asyncio.sleep(0.3)
        assert pool.releases == 1  # nothing hashed since: nothing to give back
        await pool.run(time.sleep, 0)
        await until(lambda: pool.releases == 2, 5, "a second release")
    finally:
        gate.set()
        pool.close()


async def test_a_pool_that_keeps_hashing_keeps_its_memory() -> None:
    memory = _Memory()
    pool = _releasing(HashPool(threads=1, queue_size=4), memory, 1.0)
    try:
        for _ in range(8):
            await pool.run(time.sleep, 0.05)
        assert pool.releases == 0 and memory.released == []
        without = _releasing(HashPool(threads=1, queue_size=4), memory, 0)  # 0: kept for good
        try:
            await without.run(time.sleep, 0)
            await asyncio.sleep(0.3)
            assert without.releases == 0
        finally:
            without.close()
        await until(lambda: pool.releases == 1, 5, "a release")
    finally:
        pool.close()


@pytest.mark.skipif(GLIBC is None, reason="glibc's malloc only (Linux)")
def test_argon2_memory_kept_by_the_hashing_threads_is_given_back_to_the_system_when_idle() -> None:
    """In a process of its own (a clean heap): at OWASP's 19 MiB, two threads hashing keep about 19 MiB each;
    once the pool is idle it is given back, and hashing still works after."""
    script = """
import asyncio
from authgate.domain.passwords import HashParameters, HashPool, PasswordHasher
from authgate.malloc import GLIBC

def anon_mib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

async def main():
    hasher = PasswordHasher(HashParameters(memory_kib=19456, time_cost=1, parallelism=1))
    stored = hasher.hash("a long and unusual passphrase")
    pool = HashPool(threads=2, queue_size=8)
    pool.release_memory_when_idle(GLIBC, 0.2)
    start = anon_mib()
    for _ in range(3):
        await asyncio.gather(*(pool.run(hasher.verify, stored, "a long and unusual passphrase") for _ in range(2)))
    kept = anon_mib()
    for _ in range(100):
        if pool.releases:
            break
        await asyncio.sleep(0.05)
    released = anon_mib()
    ok, _ = await pool.run(hasher.verify, stored, "a long and unusual passphrase")
    pool.close()
    print(start, kept, released, ok)

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    start, kept, released, ok = done.stdout.split()
    assert float(kept) - float(start) > 30, done.stdout  # two threads' 19 MiB
    assert float(kept) - float(released) > 30, done.stdout
    assert ok == "True"


async def test_a_hash_that_ends_after_the_pool_closed_sets_no_release() -> None:
    """Nothing is sent to the closed pool's threads (it would fail in a task no one awaits)."""
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    memory = _Memory()
    pool = _releasing(HashPool(threads=1, queue_size=4), memory, 0.05)
    gate = threading.Event()
    hashing = asyncio.ensure_future(pool.run(gate.wait, 5))
    await asyncio.sleep(0.05)
    pool.close()
    gate.set()
    assert await hashing
    await asyncio.sleep(0.2)
    gc.collect()
    assert pool.releases == 0 and memory.released == [] and errors == []
