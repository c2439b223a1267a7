"""What each handler accepts and answers, declared next to it, for the OpenAPI document (`http/openapi.py`).

    @operation("Log in", request=LoginRequest, response=TokenResponse, errors=(InvalidCredentials, Overloaded))
    async def login(req: Request) -> Response: ...

The decorator only records an `Operation` on the function and returns it unchanged: nothing runs per request.
Errors that follow from the declaration are added by the document builder (a bearer token: 401; the admin
role: 403; a JSON body: 400, 413, 415, 422; query parameters: 422; every route: 500, and 503 when it uses the
database), so a handler lists only the errors of its own use case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

import msgspec

from authgate.errors import AuthgateError

H = TypeVar("H", bound=Callable[..., Any])

_ATTRIBUTE = "__authgate_operation__"

Auth = Literal["none", "bearer", "admin"]


class Operation(msgspec.Struct, frozen=True, kw_only=True):
    summary: str
    description: str = ""
    tag: str = ""
    auth: Auth = "none"
    request: Any = None
    """The msgspec type of a JSON body."""
    request_required: bool = True
    form: Any = None
    """The msgspec Struct of an `application/x-www-form-urlencoded` body."""
    query: Any = None
    """The msgspec Struct of the query parameters."""
    response: Any = None
    """The msgspec type of the success body (None: no body)."""
    status: int = 200
    media_type: str | tuple[str, ...] = "application/json"
    """The success body's media type (a tuple: one of these)."""
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    """Headers of the success response: name → description."""
    errors: tuple[type[AuthgateError], ...] = ()
    other_responses: dict[int, Any] = msgspec.field(default_factory=dict)
    """Other JSON (not problem+json) responses: status → msgspec type."""
    uses_database: bool = True
    api: bool = True
    """False for the browser pages (`handlers/pages.py`): HTML forms, not part of the API's document."""


def operation(summary: str, **details: Any) -> Callable[[H], H]:
    op = Operation(summary=summary, **details)

    def mark(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, op)
        return handler

    return mark


def operation_of(handler: Callable[..., Any]) -> Operation | None:
    op = getattr(handler, _ATTRIBUTE, None)
    return op if isinstance(op, Operation) else None
