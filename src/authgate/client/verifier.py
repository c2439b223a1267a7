"""`TokenVerifier`: local verification with the issuer's keys, plus the optional online check.

The verification steps are written once, as a generator that yields each blocking call it needs (a JWKS
fetch, an introspection request) instead of making it; `verify` runs those calls inline, `averify` runs them
in a worker thread. The same pattern as httpx's `Auth.auth_flow`: one flow, two small drivers, no twins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from functools import partial
from types import TracebackType
from typing import Self

from authgate.client.discovery import Discovery
from authgate.client.errors import AuthgateUnavailable, RevokedToken, UnknownKey
from authgate.client.introspection import DEFAULT_TTL, Introspector
from authgate.client.keys import DEFAULT_MAX_AGE, DEFAULT_REFRESH_INTERVAL, KeySet
from authgate.client.tokens import DEFAULT_AUDIENCE, DEFAULT_LEEWAY, Claims, verify
from authgate.client.transport import HttpxTransport, Transport

_Flow = Generator[Callable[[], bool], bool, Claims]


class TokenVerifier:
    """Verifies authgate access tokens for one issuer and audience. Thread-safe; share one per process.

    - `issuer`: authgate's public URL, exactly as it appears in the tokens' `iss`.
    - `jwks_uri`, `introspection_endpoint`: read from the issuer's discovery document unless given.
    - `introspect`: also ask authgate whether each token is still active (sees logouts within
      `introspection_ttl` seconds instead of at token expiry; costs a request per token per ttl).
    - `refresh_interval`: at most one JWKS fetch per this many seconds; `max_key_age`: refetch keys this old.
    - `transport`: the HTTP seam (default: httpx, 5 s timeout), closed by `close()`; `clock`, `monotonic`: for tests.

    Failures: `InvalidToken` (answer 401), `AuthgateUnavailable` (answer 503: no keys could be fetched yet, or
    the introspection call failed; it fails closed). A failed key refetch later on keeps the keys held.
    """

    def __init__(
        self,
        issuer: str,
        *,
        audience: str = DEFAULT_AUDIENCE,
        leeway: float = DEFAULT_LEEWAY,
        jwks_uri: str | None = None,
        introspect: bool = False,
        introspection_endpoint: str | None = None,
        introspection_ttl: float = DEFAULT_TTL,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        max_key_age: float = DEFAULT_MAX_AGE,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not issuer.startswith(("https://", "http://")):
            raise ValueError(f"issuer must be an http(s) URL, got {issuer!r}")
        if not audience:
            raise ValueError("audience must not be empty")
        if leeway < 0:
            raise ValueError(f"leeway must be >= 0, got {leeway!r}")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._clock = clock
        self._transport: Transport = transport or HttpxTransport()
        discovery = Discovery(issuer, self._transport, jwks_uri=jwks_uri, introspection_endpoint=introspection_endpoint)
        self.keys = KeySet(
            lambda: self._transport.get(discovery.jwks_uri()),
            refresh_interval=refresh_interval,
            max_age=max_key_age,
            monotonic=monotonic,
        )
        self._introspector = (
            Introspector(discovery.introspection_endpoint, self._transport, ttl=introspection_ttl, monotonic=monotonic)
            if introspect
            else None
        )

    def verify(self, token: str) -> Claims:
        """The claims of a valid token. Raises `InvalidToken` (401) or `AuthgateUnavailable` (503)."""
        flow = self._flow(token)
        try:
            step = next(flow)
            while True:
                step = flow.send(step())
        except StopIteration as done:
            claims: Claims = done.value
            return claims

    async def averify(self, token: str) -> Claims:
        """`verify` for async code: the checks run inline, the rare network calls in a worker thread."""
        flow = self._flow(token)
        try:
            step = next(flow)
            while True:
                step = flow.send(await asyncio.to_thread(step))
        except StopIteration as done:
            claims: Claims = done.value
            return claims

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _flow(self, token: str) -> _Flow:
        if self.keys.due():
            yield self.keys.refresh
        try:
            claims = self._check(token)
        except UnknownKey as exc:
            if self.keys.worth_refreshing():
                yield partial(self.keys.refresh, exc.kid)
            if exc.kid not in self.keys.snapshot():
                if not self.keys.loaded:
                    raise AuthgateUnavailable("the issuer's keys could not be fetched yet") from None
                raise
            claims = self._check(token)
        if self._introspector is not None:
            active = self._introspector.cached(claims.jti)
            if active is None:
                active = yield partial(self._introspector.active, token, claims.jti)
            if not active:
                raise RevokedToken("the session has ended")
        return claims

    def _check(self, token: str) -> Claims:
        return verify(
            token,
            self.keys.snapshot(),
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.leeway,
            now=self._clock(),
        )
