"""In-process rate limits and back-off: exact within one worker process, forgotten when it stops.

Used when no Redis is configured, and in place of Redis while it does not answer. Everything runs inline on
the event loop (a dict and a deque per key, no lock needed, no thread hop); stale keys are swept at most once
a minute, so memory follows the keys seen recently, not every key ever seen.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from authgate.domain.ratelimits import Admission, BackoffPolicy, Limit, retry_after

SWEEP_INTERVAL = 60.0


class MemoryRateLimiter:
    """A moving window per (limit, key): the times of the attempts counted in the last window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[tuple[str, str], tuple[int, deque[float]]] = {}
        self._swept = clock()

    async def hit(self, limit: Limit, key: str) -> None:
        now = self.clock()
        seconds = limit.rate.seconds
        entry = self._windows.get((limit.name, key))
        if entry is None:
            entry = self._windows[(limit.name, key)] = (seconds, deque())
        window = entry[1]
        start = now - seconds
        while window and window[0] <= start:
            window.popleft()
        if len(window) >= limit.rate.amount:
            raise retry_after(window[0] + seconds - now)
        window.append(now)
        if now - self._swept >= SWEEP_INTERVAL:
            self._sweep(now)

    async def test(self, limit: Limit, key: str) -> bool:
        entry = self._windows.get((limit.name, key))
        if entry is None:
            return True
        start = self.clock() - limit.rate.seconds
        return sum(1 for t in entry[1] if t > start) < limit.rate.amount

    async def clear(self, limit: Limit, key: str) -> None:
        self._windows.pop((limit.name, key), None)

    def _sweep(self, now: float) -> None:
        self._swept = now
        stale = [k for k, (seconds, window) in self._windows.items() if not window or window[-1] <= now - seconds]
        for k in stale:
            del self._windows[k]

    def __len__(self) -> int:
        return len(self._windows)


class MemoryBackoff:
    """Per key: [attempts since the last success, no attempt before this time, last attempt]."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy
        self._state: dict[str, list[float]] = {}
        self._swept = 0.0

    async def acquire(self, key: str, now: float) -> Admission:
        state = self._state.get(key)
        if state is None or now - state[2] > self._ttl(state):
            state = self._state[key] = [0, 0.0, now]
        if now < state[1]:
            return Admission(state[1] - now)
        state[0] += 1
        delay = self.policy.delay(int(state[0]))
        if delay:
            state[1] = now + delay
        state[2] = now
        if now - self._swept >= SWEEP_INTERVAL:
            self._sweep(now)
        return Admission(0.0, int(state[0]))

    async def reset(self, key: str) -> None:
        self._state.pop(key, None)

    def _ttl(self, state: list[float]) -> float:
        return max(self.policy.forget_after, state[1] - state[2] + 60)

    def _sweep(self, now: float) -> None:
        self._swept = now
        for key in [k for k, s in self._state.items() if now - s[2] > self._ttl(s)]:
            del self._state[key]
