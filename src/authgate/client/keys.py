"""The issuer's public keys: parsing a JWKS, and `KeySet`, a cached, rate-limited, thread-safe copy of it.

A key set is refetched when it is older than `max_age` (so a key authgate withdrew stops verifying) and when
a token names a key id it does not hold (so a rotated key is picked up at once). Fetches happen at most once
per `refresh_interval`, whatever the traffic: a flood of tokens with made-up key ids costs authgate one
request per interval. A failed refetch keeps the keys already held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from authgate.client.errors import AuthgateUnavailable, InvalidToken
from authgate.client.tokens import ALGORITHM, b64url_decode

log = logging.getLogger("authgate.client")

DEFAULT_REFRESH_INTERVAL = 30.0
DEFAULT_MAX_AGE = 300.0


class _Jwks(msgspec.Struct):
    keys: list[msgspec.Raw]


class _Jwk(msgspec.Struct):
    kty: str
    kid: str
    crv: str | None = None
    x: str | None = None
    alg: str | None = None
    use: str | None = None


_jwks_decoder = msgspec.json.Decoder(_Jwks)
_jwk_decoder = msgspec.json.Decoder(_Jwk)


def parse_jwks(document: bytes) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 signing keys of a JWKS by key id; other keys are skipped.

    Raises `AuthgateUnavailable` if the document is not a JWKS or holds no usable key.
    """
    try:
        entries = _jwks_decoder.decode(document).keys
    except msgspec.DecodeError as exc:
        raise AuthgateUnavailable(f"the JWKS is malformed: {exc}") from None
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in entries:
        try:
            jwk = _jwk_decoder.decode(entry)
        except msgspec.DecodeError:
            continue
        if (jwk.kty, jwk.crv) != ("OKP", "Ed25519") or jwk.alg not in (None, ALGORITHM) or jwk.use not in (None, "sig"):
            continue
        try:
            keys[jwk.kid] = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk.x or ""))
        except (InvalidToken, ValueError):
            continue
    if not keys:
        raise AuthgateUnavailable("the JWKS holds no Ed25519 signing key")
    return keys


class KeySet:
    """The public keys of one issuer, fetched with `fetch` (which returns the JWKS document)."""

    def __init__(
        self,
        fetch: Callable[[], bytes],
        *,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        max_age: float = DEFAULT_MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if refresh_interval < 0 or max_age < refresh_interval:
            raise ValueError(f"need 0 <= refresh_interval <= max_age, got {refresh_interval=} {max_age=}")
        self._fetch = fetch
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._monotonic = monotonic
        self._keys: Mapping[str, Ed25519PublicKey] = MappingProxyType({})
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @property
    def loaded(self) -> bool:
        """True once a fetch has succeeded."""
        return self._fetched_at is not None

    def snapshot(self) -> Mapping[str, Ed25519PublicKey]:
        """The keys held now, maybe none (no I/O)."""
        return self._keys

    def due(self) -> bool:
        """True if the keys held are older than `max_age` and the rate limit allows a fetch."""
        fetched = self._fetched_at
        return fetched is not None and self._monotonic() - fetched >= self._max_age and self.may_refresh()

    def may_refresh(self) -> bool:
        """True if the rate limit allows a fetch now."""
        attempted = self._attempted_at
        return attempted is None or self._monotonic() - attempted >= self._refresh_interval

    def worth_refreshing(self) -> bool:
        """True if `refresh(kid)` could bring a new key: a fetch is allowed now, or one is under way."""
        return self._lock.locked() or self.may_refresh()

    def refresh(self, kid: str | None = None) -> bool:
        """Fetch the keys unless the rate limit forbids it (blocking I/O).

        With `kid`, return whether the set now holds that key (waiting for a fetch another thread has under
        way). Without, refresh stale keys and return whether that happened; if another thread is already
        fetching, return False at once and keep using the keys held. Raises `AuthgateUnavailable` only when
        no keys were ever fetched; a later failure is logged and the keys already held are kept.
        """
        if kid is None:
            if not self._lock.acquire(blocking=False):
                return False
        else:
            self._lock.acquire()
        try:
            if kid is not None and kid in self._keys:
                return True
            if kid is None and not self.due():
                return False
            return self._fetch_locked(kid)
        finally:
            self._lock.release()

    def _fetch_locked(self, kid: str | None) -> bool:
        if not self.may_refresh():
            return False
        self._attempted_at = self._monotonic()
        try:
            keys = parse_jwks(self._fetch())
        except AuthgateUnavailable as exc:
            if self._fetched_at is None:
                raise
            log.warning("authgate.client: keeping %d known keys, the refetch failed: %s", len(self._keys), exc.detail)
            return False
        self._keys = MappingProxyType(keys)
        self._fetched_at = self._attempted_at
        return kid is None or kid in keys
