"""Passwords: the policy a new password must meet, argon2id hashing, and the pool that runs it.

Hashes are self-describing PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so changing the cost
parameters needs no migration: a login that verifies an older parameter set, or a legacy format brought in
by `authgate import-users`, rehashes the password with the current parameters.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import secrets
import sys
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Literal, Protocol, TypeVar

import argon2
import msgspec

from authgate.domain.users import NO_PASSWORD
from authgate.errors import FieldError, Overloaded

PASSWORD_MIN, PASSWORD_MAX = 8, 1024

T = TypeVar("T")


class HashParameters(msgspec.Struct, frozen=True):
    memory_kib: int = 19456
    time_cost: int = 2
    parallelism: int = 1


def normalize_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_new_password(
    password: str,
    errors: list[FieldError],
    *,
    reject_common: bool = True,
    personal: tuple[str, ...] = (),
    field: str = "password",
) -> str:
    """The NFKC form of `password`, appending to `errors` why it is not acceptable as a new password.

    NIST SP 800-63B / ASVS 6.2: a length window, no composition rules, never truncated, and no password
    that is among the most common ones or that merely repeats the username or email.
    """
    normalized = normalize_password(password)
    if len(normalized) < PASSWORD_MIN:
        errors.append(FieldError(field, f"must be at least {PASSWORD_MIN} characters"))
    elif len(normalized) > PASSWORD_MAX:
        errors.append(FieldError(field, f"must be at most {PASSWORD_MAX} characters"))
    elif reject_common and _is_common(normalized):
        errors.append(FieldError(field, "is too common; choose a less predictable password"))
    elif any(p and normalized.casefold() == p.casefold() for p in personal):
        errors.append(FieldError(field, "must not be the same as your username or email"))
    return normalized


def _is_common(password: str) -> bool:
    from authgate.domain.common_passwords import load_common_passwords  # loaded on first use, not at import

    return password.casefold() in load_common_passwords()


class PasswordHasher:
    """argon2id with the configured parameters; verifies legacy formats too."""

    def __init__(self, params: HashParameters) -> None:
        self.params = params
        self._argon2 = argon2.PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        self._current_prefix = f"$argon2id$v=19$m={params.memory_kib},t={params.time_cost},p={params.parallelism}$"
        # What an unknown user's password is checked against: our parameters, a random salt and a random digest.
        # Checking a password against it costs exactly what checking a real hash does, and never matches (no
        # password gives a chosen 256-bit digest), and making it costs nothing: no hash at start.
        self._dummy_hash = f"{self._current_prefix}{_b64(secrets.token_bytes(16))}${_b64(secrets.token_bytes(32))}"

    def hash(self, password: str) -> str:
        return self._argon2.hash(normalize_password(password))

    def verify(self, encoded: str, password: str) -> tuple[bool, bool]:
        """(matches, needs_rehash). Never raises for a malformed stored hash: that simply does not match.

        Hashes made with the current parameters take the fast path. Anything else (older argon2 parameters,
        formats brought in by `authgate import-users`) goes through `legacy_hashes`, which refuses cost
        parameters that would stall a worker, and is rehashed on success.
        """
        if encoded == NO_PASSWORD:  # an invited account: no password matches, in the time of one that might
            self.verify_dummy(password)
            return False, False
        if encoded.startswith(self._current_prefix):
            normalized = normalize_password(password)
            if self._argon2_matches(encoded, normalized):
                return True, False
            # An imported argon2id hash that happens to have our parameters was made from the password as
            # typed; when NFKC changes the password, try that too (and rehash, so that it happens once).
            if normalized != password and self._argon2_matches(encoded, password):
                return True, True
            return False, False
        from authgate.domain import legacy_hashes  # only old or imported hashes need it

        try:
            # Other systems hashed the password as typed; ours hashed its NFKC form. Try both.
            if legacy_hashes.verify(encoded, password):
                return True, True
            normalized = normalize_password(password)
            return normalized != password and legacy_hashes.verify(encoded, normalized), True
        except legacy_hashes.UnsupportedHash:
            return False, False

    def _argon2_matches(self, encoded: str, password: str) -> bool:
        try:
            return bool(self._argon2.verify(encoded, password))
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        """Spend the time a real verification costs, so that an unknown user cannot be told from a known one."""
        self.verify(self._dummy_hash, password)


def _b64(data: bytes) -> str:
    """The PHC string format's base64: the standard alphabet, without padding."""
    return base64.b64encode(data).rstrip(b"=").decode("ascii")


HashPriority = Literal["idle", "low", "normal"]
SHED_DELAY_SECONDS = 0.25
"""How long, on average, a job that finds the pool full waits before it is refused: each waits a random time
between half and one and a half times this."""


class ThreadMemory(Protocol):
    """Gives back the memory a hashing thread keeps between hashes (`authgate.malloc.Glibc`)."""

    def trimming(self) -> AbstractContextManager[None]: ...

    def release_thread_arena(self) -> None:
        """On the calling thread, inside `trimming`."""


class HashPool:
    """Runs password hashing off the event loop, in a bounded pool with a bounded queue.

    argon2-cffi releases the GIL, so `threads` hashes run truly in parallel. When `threads + queue_size`
    jobs are already in the pool, `run` raises `Overloaded` (503) instead of queueing without bound, after
    SHED_DELAY_SECONDS: clients that retry at once (a login storm) would otherwise spend the CPU on refusals
    (9,000 a second on one core, measured) that the hashes need; paced, 128 of them cost a few percent. The
    pause is drawn at random around SHED_DELAY_SECONDS: with a fixed one, refused clients that retry at once
    stay in step, and every quarter second the event loop answered them all in one stretch of a few
    milliseconds that every other request waited behind (perf sched; the benchmark's /ping p99 during a login
    storm).

    The hashing threads run at a lower priority than the event loop (`priority`, on Linux): a hash takes tens
    of milliseconds of CPU, and at equal priority a thread that wakes to answer a request waits for the
    hashing threads' time slices (the benchmark's /ping p99 during a login storm was 32x its idle figure).
    `idle` (SCHED_IDLE): they run only when nothing else of normal priority wants the CPU, and give it up at
    once when something does; `low`: niceness 19, the least share of normal scheduling; `normal`: as the
    rest of the process.

    Each hashing thread keeps the memory of its last hash (argon2id's 19 MiB, reused by the next: a hash that
    has to fault in fresh pages takes a quarter longer), unless `release_memory_when_idle`.
    """

    def __init__(self, threads: int, queue_size: int, priority: HashPriority = "idle") -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=threads,
            thread_name_prefix="authgate-hash",
            initializer=self._thread_started,
            initargs=(priority,),
        )
        self.threads = threads
        self.capacity = threads + queue_size
        self.pending = 0
        self._memory: ThreadMemory | None = None
        self.release_after = 0.0
        self.releases = 0
        """How many times the threads gave their memory back."""
        self._started = 0
        self._last_done = 0.0
        self._release_timer: asyncio.TimerHandle | None = None
        self._releasing: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def queued(self) -> int:
        return max(0, self.pending - self.threads)

    async def shed_if_full(self) -> None:
        """Refuse now (after a pause of about SHED_DELAY_SECONDS) when a job would be refused: a login checks this
        before it spends a database query on a password it could not hash."""
        if self.pending >= self.capacity:
            await asyncio.sleep(SHED_DELAY_SECONDS * (0.5 + random.random()))  # noqa: S311  (pacing, not a secret)
            raise Overloaded()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        await self.shed_if_full()
        self.pending += 1
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        finally:
            self.pending -= 1
            if self._memory is not None and not self._closed:
                self._last_done = loop.time()
                if self._release_timer is None:
                    self._release_timer = loop.call_later(self.release_after, self._release_when_idle)

    def release_memory_when_idle(self, memory: ThreadMemory | None, after: float) -> None:
        """Once no hash has run for `after` seconds (0: never), every thread gives the memory of its last hash
        back through `memory` (`authgate/malloc.py`); the next hash on each thread faults it in again, once."""
        self._memory = memory if after > 0 else None
        self.release_after = after

    def close(self) -> None:
        self._closed = True
        if self._release_timer is not None:
            self._release_timer.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _thread_started(self, priority: HashPriority) -> None:
        self._started += 1
        _set_thread_priority(priority)

    def _release_when_idle(self) -> None:
        """The timer a finished hash set: once the pool has been idle `release_after` s, give the memory back;
        until then, look again when it would be."""
        loop = asyncio.get_running_loop()
        idle = loop.time() - self._last_done
        if self.pending or idle < self.release_after or self._releasing is not None:
            wait = self.release_after if self.pending else max(self.release_after - idle, 0.05)
            self._release_timer = loop.call_later(wait, self._release_when_idle)
            return
        self._release_timer = None
        if self._memory is not None and not self._closed:
            self._releasing = loop.create_task(self._release(self._memory))

    async def _release(self, memory: ThreadMemory) -> None:
        """One release on each started thread, all submitted at once while none hashes (no await before): each
        waits at the barrier for the others, so no thread takes two and none is left out. A hash that came in
        since the timer looked calls it off; its end sets the timer again."""
        threads = self._started
        barrier = threading.Barrier(threads, timeout=1.0)

        def release() -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            memory.release_thread_arena()

        loop = asyncio.get_running_loop()
        try:
            if self.pending:
                return
            with memory.trimming():
                await asyncio.gather(*(loop.run_in_executor(self._executor, release) for _ in range(threads)))
            self.releases += 1
        finally:
            self._releasing = None


def _set_thread_priority(priority: HashPriority) -> None:
    """Lower the calling thread's priority alone (on Linux, scheduling policy and niceness are per thread;
    elsewhere they would be the whole process's, so leave them)."""
    if sys.platform != "linux" or priority == "normal":
        return
    tid = threading.get_native_id()
    if priority == "idle":
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.setpriority(os.PRIO_PROCESS, tid, 19)
