"""Properties of request decoding (http/decoding.py) for every JSON endpoint, every query and every form.

Every msgspec decoder of a handler module is found by looking, so a new endpoint is covered without being
listed. Whatever the bytes (arbitrary, or any JSON value, or an object with the endpoint's own field names and
values of any type, or text that is not UTF-8), `read_json` returns the endpoint's type or raises one of the
two documented errors, MalformedBody (400 malformed_json) or ValidationFailed (422, with field errors); the
query parsers of /users and /audit return their type or ValidationFailed; `read_form` returns a dict or
BadRequest. Nothing else escapes, which would be a 500.

Quick-suite tests: decoding is microseconds, nothing does I/O (the coroutines finish on their first step).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import authgate.http.handlers
from authgate.app import build_router
from authgate.config import load_settings
from authgate.errors import BadRequest, FieldError, MalformedBody, ValidationFailed
from authgate.http.decoding import read_form, read_json
from authgate.http.handlers import audit, users
from authgate.http.openapi import build_openapi
from authgate.http.request import Request
from helpers import run_to_end

QUICK = settings(max_examples=150, deadline=None)


def _decoders() -> dict[str, msgspec.json.Decoder[Any]]:
    found = {}
    for info in pkgutil.iter_modules(authgate.http.handlers.__path__):
        module = importlib.import_module(f"authgate.http.handlers.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, msgspec.json.Decoder):
                found[f"{info.name}.{name}"] = value
    return found


DECODERS = _decoders()
SERVICES = SimpleNamespace(settings=load_settings({}))
"""What Request.body() reads: the body limit."""


def test_every_json_operation_has_its_decoder_here() -> None:
    settings = load_settings({})
    document = build_openapi(build_router(settings), settings)
    bodies = {
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for operations in document["paths"].values()
        for operation in operations.values()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    }
    assert bodies <= {d.type.__name__ for d in DECODERS.values()}


def _request(body: bytes = b"", query: str = "", content_type: str = "application/json") -> Request:
    async def receive(limit: int) -> bytes:
        return body

    headers = {"content-type": content_type}
    return Request("POST", "/", query, headers, receive, SERVICES, _client_ip="192.0.2.1")  # type: ignore[arg-type]


def _decodes_or_documented_error(decoder: msgspec.json.Decoder[Any], body: bytes) -> None:
    try:
        value = run_to_end(read_json(_request(body), decoder, max_bytes=1 << 20))
    except MalformedBody as exc:
        assert exc.detail in ("The request body is not valid JSON (UTF-8)", "The request body is nested too deeply")
    except ValidationFailed as exc:
        assert exc.errors and all(isinstance(e, FieldError) and e.field and e.message for e in exc.errors)
    else:
        assert isinstance(value, decoder.type)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)


def _encode(value: Any, ascii_only: bool) -> bytes:
    """JSON text; with lone surrogates written as raw UTF-8-like bytes too (which are not UTF-8)."""
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True).encode("utf-8", "surrogatepass")


def _shaped(decoder: msgspec.json.Decoder[Any]) -> st.SearchStrategy[Any]:
    """Objects with the type's own field names (some of them), nested for list-of-struct fields, any values."""
    fields = msgspec.structs.fields(decoder.type)
    values = {f.encode_name: json_values for f in fields}
    if "users" in values:  # ImportUsersRequest: a list of records with ImportUser's fields
        names = ["username", "email", "password_hash", "roles", "created_at"]
        record = st.fixed_dictionaries({}, optional=dict.fromkeys(names, json_values | st.text(max_size=30)))
        values["users"] = st.lists(record, max_size=3) | json_values
    return st.fixed_dictionaries({}, optional=values)


@pytest.mark.parametrize("name", sorted(DECODERS))
@QUICK
@given(data=st.data())
def test_any_body_decodes_or_is_a_documented_error(name: str, data: st.DataObject) -> None:
    decoder = DECODERS[name]
    body = data.draw(
        st.binary(max_size=200)
        | st.builds(_encode, json_values, st.booleans())
        | st.builds(_encode, _shaped(decoder), st.booleans()),
        label="body",
    )
    _decodes_or_documented_error(decoder, body)


@pytest.mark.parametrize(
    ("parse", "query_type"), [(users._query, "UserListQuery"), (audit._query, "AuditListQuery")], ids=["users", "audit"]
)
@QUICK
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(["limit", "cursor", "q", "role", "sort", "user_id", "event"]) | st.text(max_size=8),
            st.text(max_size=40) | st.integers(-(2**70), 2**70).map(str),
        ),
        max_size=70,
    )
)
@example(pairs=[("p", "v")] * 65)  # past Request.query's 64 (a 500 once)
def test_any_query_parses_or_is_a_validation_error(parse: Any, query_type: str, pairs: list[tuple[str, str]]) -> None:
    request = _request(query=urlencode(pairs, encoding="utf-8", errors="surrogatepass"))
    try:
        query = parse(request)
    except ValidationFailed as exc:
        assert exc.errors
    else:
        assert type(query).__name__ == query_type


@QUICK
@given(st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_form_parses_or_is_a_bad_request(body: bytes) -> None:
    try:
        form = run_to_end(read_form(_request(body, content_type="application/x-www-form-urlencoded")))
    except BadRequest:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in form.items())
