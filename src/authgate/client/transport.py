"""The I/O seam: the two HTTP calls the client makes to authgate, and the default httpx implementation.

Everything else in `authgate.client` is I/O-free. The calls are blocking; async code runs them in a worker
thread (see `authgate.client.verifier`), so there is one implementation, not a sync/async pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import httpx

from authgate.client.errors import AuthgateUnavailable

DEFAULT_TIMEOUT = 5.0
MAX_RESPONSE_BYTES = 1 << 20


class Transport(Protocol):
    """Raises `AuthgateUnavailable` for any failure: network, timeout, a non-2xx status, an oversize body."""

    def get(self, url: str) -> bytes: ...

    def post_form(self, url: str, form: Mapping[str, str]) -> bytes: ...

    def close(self) -> None: ...


class HttpxTransport:
    """The default transport. Pass your own `httpx.Client` to add credentials, proxies or TLS settings;
    it is closed with the transport. Redirects are not followed."""

    def __init__(self, client: httpx.Client | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def get(self, url: str) -> bytes:
        return self._send("GET", url, None)

    def post_form(self, url: str, form: Mapping[str, str]) -> bytes:
        return self._send("POST", url, dict(form))

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, url: str, form: dict[str, str] | None) -> bytes:
        try:
            request = self._client.build_request(method, url, data=form, headers={"accept": "application/json"})
            response = self._client.send(request, stream=True)
            try:
                if not response.is_success:
                    raise AuthgateUnavailable(f"{method} {url} answered {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise AuthgateUnavailable(f"{method} {url}: the response is too large")
                return bytes(body)
            finally:
                response.close()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise AuthgateUnavailable(f"{method} {url} failed: {exc!r}") from exc
