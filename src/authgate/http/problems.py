"""The one place where errors become responses: RFC 9457 problem+json with a stable snake_case code."""

from __future__ import annotations

import msgspec

from authgate import errors
from authgate.http.responses import PROBLEM_JSON, Response, encode

_STATUS: list[tuple[type[errors.AuthgateError], int]] = [
    (errors.MethodNotAllowed, 405),
    (errors.RequestTimeout, 408),
    (errors.PayloadTooLarge, 413),
    (errors.UnsupportedMediaType, 415),
    (errors.ValidationFailed, 422),
    (errors.RateLimited, 429),
    (errors.BadRequest, 400),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.StorageFull, 507),
    (errors.Unavailable, 503),
]


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str
    errors: list[errors.FieldError] | None = None
    mfa_token: str | None = None
    """With 403 `mfa_required`: what `/auth/login/mfa` takes with the code."""
    expires_in: int | None = None
    """With `mfa_token`: the seconds it is good for."""


def status_of(error: errors.AuthgateError) -> int:
    return status_for(type(error))


def status_for(error_class: type[errors.AuthgateError]) -> int:
    for cls, status in _STATUS:
        if issubclass(error_class, cls):
            return status
    return 400


def problem_type(code: str) -> str:
    return f"urn:authgate:error:{code}"


def problem_response(error: errors.AuthgateError, request_id: str) -> Response:
    status = status_of(error)
    body = Problem(
        type=problem_type(error.code),
        title=error.title,
        status=status,
        detail=error.detail,
        code=error.code,
        request_id=request_id,
        errors=getattr(error, "errors", None),
    )
    if isinstance(error, errors.MfaRequired):
        body.mfa_token, body.expires_in = error.mfa_token, error.expires_in
    headers = [("content-type", PROBLEM_JSON), ("cache-control", "no-store")]
    if isinstance(error, errors.Unauthorized):
        challenge = "Bearer"
        if isinstance(error, errors.InvalidAccessToken | errors.SessionEnded):
            challenge = 'Bearer error="invalid_token"'
        headers.append(("www-authenticate", challenge))
    elif isinstance(error, errors.MethodNotAllowed):
        headers.append(("allow", ", ".join(error.allowed)))
    elif isinstance(error, (errors.RateLimited, errors.Unavailable)):
        headers.append(("retry-after", str(error.retry_after)))
    elif isinstance(error, errors.PayloadTooLarge | errors.RequestTimeout):
        # The unread rest of the body is still on the wire: the connection cannot carry another request.
        headers.append(("connection", "close"))
    return Response(status, encode(body), headers)


def internal_error(request_id: str) -> Response:
    body = Problem(
        type=problem_type("internal_error"),
        title="Internal server error",
        status=500,
        detail="Something went wrong on our side; quote the request id if you report it.",
        code="internal_error",
        request_id=request_id,
    )
    return Response(500, encode(body), [("content-type", PROBLEM_JSON), ("cache-control", "no-store")])
