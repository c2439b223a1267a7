"""Where the issuer's keys and introspection endpoint are: given, or read once from its discovery document."""

from __future__ import annotations

import threading

import msgspec

from authgate.client.errors import AuthgateUnavailable
from authgate.client.transport import Transport

DISCOVERY_PATH = "/.well-known/openid-configuration"


class Endpoints(msgspec.Struct, frozen=True):
    issuer: str
    jwks_uri: str
    introspection_endpoint: str | None = None


_decoder = msgspec.json.Decoder(Endpoints)


class Discovery:
    """The endpoints of one issuer. The discovery document is fetched on first need, and again only after
    a failed attempt; its `issuer` must be exactly the configured one (OpenID Connect Discovery, 4.3)."""

    def __init__(
        self, issuer: str, transport: Transport, *, jwks_uri: str | None, introspection_endpoint: str | None
    ) -> None:
        self._issuer = issuer
        self._transport = transport
        self._given = (jwks_uri, introspection_endpoint)
        self._document: Endpoints | None = None
        self._lock = threading.Lock()

    def jwks_uri(self) -> str:
        return self._given[0] or self._discover().jwks_uri

    def introspection_endpoint(self) -> str:
        endpoint = self._given[1] or self._discover().introspection_endpoint
        if endpoint is None:
            raise AuthgateUnavailable("the discovery document names no introspection_endpoint")
        return endpoint

    def _discover(self) -> Endpoints:
        with self._lock:
            if self._document is None:
                url = self._issuer.rstrip("/") + DISCOVERY_PATH
                try:
                    document = _decoder.decode(self._transport.get(url))
                except msgspec.DecodeError as exc:
                    raise AuthgateUnavailable(f"the discovery document at {url} is malformed: {exc}") from None
                if document.issuer != self._issuer:
                    raise AuthgateUnavailable(
                        f"the discovery document at {url} names issuer {document.issuer!r}, not {self._issuer!r}"
                    )
                self._document = document
            return self._document
