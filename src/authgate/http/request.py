"""The request object handlers receive: what the server parsed, plus the body read on demand."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

import msgspec

from authgate.errors import BadRequest, FieldError, PayloadTooLarge, ValidationFailed

if TYPE_CHECKING:
    from authgate.services import Services


class Headers(Protocol):
    def get(self, key: str, default: str | None = None) -> str | None: ...


MAX_QUERY_FIELDS = 64

BodyReader = Callable[[int], Awaitable[bytes]]
"""Reads the whole body, raising PayloadTooLarge past the given number of bytes."""
AddressOf = Callable[[Any, "Headers"], str]
"""A server adapter's way to a request's client address, from the server's request object and the headers (see
`client_address`)."""


def _no_address(scope: Any, headers: Headers) -> str:
    raise RuntimeError("this request was made without a way to its client's address")


class Request(msgspec.Struct):
    """A Struct rather than a class with `__init__`: msgspec builds it in C, for half the instructions (1,710
    against 3,390, callgrind), and every request makes one."""

    method: str
    path: str
    query_string: str
    headers: Headers
    _receive: BodyReader
    services: Services
    _address_of: AddressOf = _no_address
    """How this request's server adapter works out `client_ip` (one function per app, not one per request)."""
    _scope: Any = None
    """The server's own request object (Granian's scope, ASGI's dict), where `_address_of` finds the peer."""
    params: dict[str, str] = {}  # a new dict for each request
    route: str = ""
    request_id: str = ""
    user_id: str | None = None
    _query: dict[str, str] | None = None
    _client_ip: str | None = None

    @property
    def client_ip(self) -> str:
        """The client's address: the peer, or what a trusted proxy in front of it reports. Worked out on first
        use: Granian makes a string of the peer's address only when asked, for about 3,000 instructions
        (callgrind), and most requests never ask (`/ping` without the access log, a token check)."""
        ip = self._client_ip
        if ip is None:
            ip = self._client_ip = self._address_of(self._scope, self.headers)
        return ip

    def header(self, name: str) -> str | None:
        """A request header by its lower-case name."""
        return self.headers.get(name)

    async def body(self, limit: int | None = None) -> bytes:
        """The whole body; PayloadTooLarge past `limit` bytes (default AUTHGATE_MAX_BODY_BYTES: a route that
        needs more, such as a bulk import, passes its own)."""
        return await self._receive(self.services.settings.max_body_bytes if limit is None else limit)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; the first value wins when one is repeated. ValidationFailed past MAX_QUERY_FIELDS."""
        if self._query is None:
            query: dict[str, str] = {}
            if self.query_string:
                try:
                    pairs = parse_qsl(self.query_string, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
                except ValueError:  # "Max number of fields exceeded"
                    raise ValidationFailed(
                        [FieldError("query", f"must have at most {MAX_QUERY_FIELDS} parameters")]
                    ) from None
                for key, value in pairs:
                    query.setdefault(key, value)
            self._query = query
        return self._query


def declared_length(headers: Headers, limit: int) -> int | None:
    """The body's Content-Length, if it has one: BadRequest when that is not a number, PayloadTooLarge past
    `limit` bytes."""
    length = headers.get("content-length")
    if length is None:
        return None
    if not length.isdigit() or len(length) > 12:
        raise BadRequest("Invalid Content-Length")
    if int(length) > limit:
        raise PayloadTooLarge(f"The body may be at most {limit} bytes")
    return int(length)


@functools.lru_cache(maxsize=4096)
def peer_host(client: str) -> str:
    """`1.2.3.4:5678` or `[::1]:5678` → the address alone. Cached: a keep-alive connection sends the same string
    with every request, and a hit costs a quarter of the parse (670 instructions against 2,940, callgrind)."""
    host = client.rsplit(":", 1)[0] if client.count(":") == 1 or client.startswith("[") else client
    return host.strip("[]")


def client_address(peer: AddressOf, trust: ProxyTrust) -> AddressOf:
    """The `AddressOf` of a server adapter, made once per app: `peer` itself, which reads the address at the
    other end of the connection; or, when proxies are trusted, the address such a proxy reports."""
    if not trust.networks:
        return peer

    def behind_proxies(scope: Any, headers: Headers) -> str:
        return trust.client_ip(peer(scope, headers), headers)

    return behind_proxies


class ProxyTrust:
    """Which peers may tell us the client's address through X-Forwarded-For / X-Real-IP."""

    def __init__(self, proxies: tuple[str, ...]) -> None:
        self.networks = [ipaddress.ip_network(p, strict=False) for p in proxies]

    def trusts(self, address: str) -> bool:
        if not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client_ip(self, peer: str, headers: Headers) -> str:
        """The peer, or, when the peer is a trusted proxy, the last untrusted hop it reports."""
        if not self.networks or not self.trusts(peer):
            return peer
        forwarded = headers.get("x-forwarded-for")
        if forwarded:
            for hop in reversed([h.strip() for h in forwarded.split(",")[-16:]]):
                if not self.trusts(hop):
                    return hop if _is_ip(hop) else peer
        real = headers.get("x-real-ip")
        return real.strip() if real and _is_ip(real.strip()) else peer


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
