"""What the framework adapters share, with no framework in it: reading the bearer token, and the one place
where a `ClientError` becomes a response (RFC 9457 problem+json, with the RFC 6750 challenge on a 401).

Internal causes of a 503 (which URL failed, and how) are logged, never sent to the caller.
"""

from __future__ import annotations

import logging

import msgspec

from authgate.client.errors import AuthgateUnavailable, ClientError, Forbidden, InvalidToken, MissingToken

log = logging.getLogger("authgate.client")

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5


class Problem(msgspec.Struct, frozen=True):
    type: str
    title: str
    status: int
    detail: str
    code: str


class ErrorResponse(msgspec.Struct, frozen=True):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


_encoder = msgspec.json.Encoder()


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise MissingToken()
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("expected: Authorization: Bearer <access token>")
    return token


def status_of(error: ClientError) -> int:
    if isinstance(error, InvalidToken | MissingToken):
        return 401
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, AuthgateUnavailable):
        return 503
    return 400


def error_response(error: ClientError) -> ErrorResponse:
    status = status_of(error)
    detail = error.detail
    headers = [("content-type", PROBLEM_JSON), ("cache-control", "no-store")]
    if isinstance(error, InvalidToken):
        headers.append(("www-authenticate", 'Bearer error="invalid_token"'))
    elif isinstance(error, MissingToken):
        headers.append(("www-authenticate", "Bearer"))
    elif isinstance(error, AuthgateUnavailable):
        log.warning("authgate.client: answering 503: %s", error.detail)
        detail = "The access token cannot be checked right now; try again shortly."
        headers.append(("retry-after", str(RETRY_AFTER_SECONDS)))
    problem = Problem(
        type=f"urn:authgate:error:{error.code}", title=error.title, status=status, detail=detail, code=error.code
    )
    return ErrorResponse(status, headers, _encoder.encode(problem))
