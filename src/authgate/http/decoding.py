"""Reading a JSON request body into a msgspec type: 415, 413, 400 and 422 as the contract says."""

from __future__ import annotations

import re
from typing import TypeVar
from urllib.parse import parse_qsl

import msgspec

from authgate.errors import BadRequest, FieldError, MalformedBody, UnsupportedMediaType, ValidationFailed
from authgate.http.request import Request

T = TypeVar("T")

FORM = "application/x-www-form-urlencoded"

_AT_PATH = re.compile(r"^(?P<message>.*?) - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")


def is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json(req: Request, decoder: msgspec.json.Decoder[T], *, max_bytes: int | None = None) -> T:
    """The body decoded; `max_bytes` replaces AUTHGATE_MAX_BODY_BYTES for this route."""
    if not is_json(req.headers.get("content-type")):
        raise UnsupportedMediaType("The request body must be application/json")
    body = await req.body(max_bytes)
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([field_error(str(exc))]) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise MalformedBody("The request body is not valid JSON (UTF-8)") from None
    except RecursionError:
        raise MalformedBody("The request body is nested too deeply") from None


def is_form(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == FORM


async def read_form(req: Request, max_fields: int = 32) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as a dict (first value wins); 415 for anything else."""
    if not is_form(req.headers.get("content-type")):
        raise UnsupportedMediaType("The request body must be application/x-www-form-urlencoded")
    body = await req.body()
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form body is not valid") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def field_error(message: str) -> FieldError:
    """msgspec's "Expected `int`, got `str` - at `$.limit`" → FieldError("limit", "Expected `int`, got `str`")."""
    path = ""
    match = _AT_PATH.match(message)
    if match:
        message, path = match["message"], match["path"]
    missing = _MISSING.match(message)
    if missing:
        path = f"{path}.{missing['field']}" if path else missing["field"]
        message = "is required"
    return FieldError(path or "body", message)
