"""The online check (RFC 7662): ask authgate whether a locally valid token is still active.

For services that must see a logout within seconds instead of at token expiry. Answers are cached per token
(by `jti`) for `ttl` seconds, in a bounded map. A failed call fails closed: `AuthgateUnavailable`, never
"active".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import msgspec

from authgate.client.errors import AuthgateUnavailable
from authgate.client.transport import Transport

DEFAULT_TTL = 2.0
MAX_ENTRIES = 10_000


class _Answer(msgspec.Struct):
    active: bool


_decoder = msgspec.json.Decoder(_Answer)


class Introspector:
    def __init__(
        self,
        endpoint: Callable[[], str],
        transport: Transport,
        *,
        ttl: float = DEFAULT_TTL,
        monotonic: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        if ttl < 0:
            raise ValueError(f"introspection ttl must be >= 0, got {ttl!r}")
        self._endpoint = endpoint
        self._transport = transport
        self._ttl = ttl
        self._monotonic = monotonic
        self._max_entries = max_entries
        self._cache: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def cached(self, jti: str) -> bool | None:
        """The remembered answer for this token, or None (no I/O)."""
        with self._lock:
            entry = self._cache.get(jti)
            if entry is None:
                return None
            if self._monotonic() < entry[1]:
                return entry[0]
            del self._cache[jti]
            return None

    def active(self, token: str, jti: str) -> bool:
        """Ask authgate (blocking I/O) and remember the answer."""
        body = self._transport.post_form(self._endpoint(), {"token": token})
        try:
            answer = _decoder.decode(body).active
        except msgspec.DecodeError as exc:
            raise AuthgateUnavailable(f"the introspection answer is malformed: {exc}") from None
        if self._ttl > 0:
            with self._lock:
                if len(self._cache) >= self._max_entries:
                    del self._cache[next(iter(self._cache))]
                self._cache[jti] = (answer, self._monotonic() + self._ttl)
        return answer
