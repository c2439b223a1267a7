"""The OpenAPI 3.1 document of the HTTP API, built from the route table and the msgspec types.

Each route's handler carries an `Operation` (see `operations.py`); the request, query and response schemas come
from the same msgspec types that decode and encode the bodies (`msgspec.json.schema_components`), and every
error response is the `Problem` shape with the exact `code` values that route can answer with. Nothing here is
written by hand, so the document cannot drift from the server; a test checks that every route has an operation
and schemathesis checks the running server against the document.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import msgspec

from authgate import __version__, errors
from authgate.config import Settings
from authgate.http.operations import Operation, operation_of
from authgate.http.problems import Problem, status_for
from authgate.http.responses import PROBLEM_JSON
from authgate.http.router import Route, Router

REF = "#/components/schemas/{name}"
SECURITY_SCHEME = "bearer"
_PATH_PARAM = re.compile(r"\{([a-z_]+)\}")

_JSON_BODY_ERRORS: tuple[type[errors.AuthgateError], ...] = (
    errors.MalformedBody,
    errors.BadRequest,
    errors.PayloadTooLarge,
    errors.RequestTimeout,
    errors.UnsupportedMediaType,
    errors.ValidationFailed,
)
_FORM_BODY_ERRORS: tuple[type[errors.AuthgateError], ...] = (
    errors.BadRequest,
    errors.PayloadTooLarge,
    errors.RequestTimeout,
    errors.UnsupportedMediaType,
)
_BEARER_ERRORS: tuple[type[errors.AuthgateError], ...] = (
    errors.MissingToken,
    errors.InvalidAccessToken,
    errors.SessionEnded,
    errors.DatabaseUnavailable,
)


class MissingOperation(LookupError):
    """A route's handler has no `@operation`: the document would be incomplete."""


def _error_classes(op: Operation) -> list[type[errors.AuthgateError]]:
    found: list[type[errors.AuthgateError]] = list(op.errors)
    if op.auth != "none":
        found += _BEARER_ERRORS
    if op.auth == "admin":
        found += (errors.NotAllowed, errors.SecondFactorRequired)
    if op.request is not None:
        found += _JSON_BODY_ERRORS
    if op.form is not None:
        found += _FORM_BODY_ERRORS
    if op.query is not None:
        found.append(errors.ValidationFailed)
    if op.uses_database:
        found += (errors.DatabaseUnavailable, errors.StorageFull)
    return found


def _error_responses(op: Operation) -> dict[str, Any]:
    codes: dict[int, list[str]] = defaultdict(list)
    for cls in _error_classes(op):
        status = status_for(cls)
        if cls.code not in codes[status]:
            codes[status].append(cls.code)
    codes[500].append("internal_error")
    responses: dict[str, Any] = {}
    for status in sorted(codes):
        schema = {
            "allOf": [{"$ref": REF.format(name="Problem")}],
            "properties": {"status": {"const": status}, "code": {"enum": codes[status]}},
        }
        response: dict[str, Any] = {
            "description": "code: " + ", ".join(f"`{c}`" for c in codes[status]),
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}
        elif status in (429, 503):
            response["headers"] = {"Retry-After": {"schema": {"type": "string"}, "required": True}}
        responses[str(status)] = response
    return responses


def _parameters(route: Route, op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in _PATH_PARAM.findall(route.template)
    ]
    if op.query is not None:
        (_,), components = msgspec.json.schema_components([op.query], ref_template=REF)
        struct = components[op.query.__name__]
        required = set(struct.get("required", ()))
        for name, schema in struct["properties"].items():
            param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": schema}
            if "description" in schema:
                param["description"] = schema["description"]
            params.append(param)
    return params


def _operation(route: Route, op: Operation, schema_of: dict[Any, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": route.name, "summary": op.summary}
    if op.description:
        doc["description"] = op.description
    if op.tag:
        doc["tags"] = [op.tag]
    params = _parameters(route, op)
    if params:
        doc["parameters"] = params
    if op.request is not None:
        doc["requestBody"] = {
            "required": op.request_required,
            "content": {"application/json": {"schema": schema_of[op.request]}},
        }
    elif op.form is not None:
        form_schema = schema_of[op.form]
        doc["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": form_schema}},
        }
    success: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        media_types = (op.media_type,) if isinstance(op.media_type, str) else op.media_type
        success["content"] = {media: {"schema": schema_of[op.response]} for media in media_types}
    if op.headers:
        success["headers"] = {
            name: {"description": text, "schema": {"type": "string"}, "required": True}
            for name, text in op.headers.items()
        }
    doc["responses"] = {str(op.status): success, **_error_responses(op)}
    for status, body in op.other_responses.items():
        doc["responses"][str(status)] = {
            "description": f"{status}",
            "content": {"application/json": {"schema": schema_of[body]}},
        }
    if op.auth != "none":
        doc["security"] = [{SECURITY_SCHEME: []}]
        if op.auth == "admin":
            doc["description"] = (
                doc.get("description", "")
                + "\n\nNeeds an access token with the `admin` role (and, with AUTHGATE_ADMIN_REQUIRES_SECOND_FACTOR, "
                "of a session started with two-step login or a passkey)."
            ).strip()
    return doc


def build_openapi(router: Router, settings: Settings, *, strict: bool = False) -> dict[str, Any]:
    """The document; with `strict`, MissingOperation for a route whose handler has no `@operation` (the tests),
    otherwise such a route is listed as undocumented (a server never fails to describe itself)."""
    operations: list[tuple[Route, Operation]] = []
    for route in router.routes:
        op = operation_of(route.handler)
        if op is None:
            if strict:
                raise MissingOperation(f"{route.method} {route.template}: the handler has no @operation")
            op = Operation(summary="(undocumented)")
        if op.api:
            operations.append((route, op))
    types: list[Any] = [Problem]
    for _, op in operations:
        for t in (op.request, op.form, op.response, *op.other_responses.values()):
            if t is not None and t not in types:
                types.append(t)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = dict(zip(types, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route, op in operations:
        paths.setdefault(route.template, {})[route.method.lower()] = _operation(route, op, schema_of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "authgate",
            "version": __version__,
            "description": "User authentication and user management. Every error is `application/problem+json` "
            "(RFC 9457) with a stable snake_case `code` and the `request_id`.",
        },
        "servers": [{"url": settings.issuer.rstrip("/")}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from `POST /auth/login` (EdDSA JWT, RFC 9068).",
                }
            },
        },
    }
