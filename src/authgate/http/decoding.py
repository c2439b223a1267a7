"""Reading a JSON request body into a msgspec type: 415, 413, 400 and 422 as the contract says."""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from authgate.errors import FieldError, MalformedBody, UnsupportedMediaType, ValidationFailed
from authgate.http.request import Request

T = TypeVar("T")

_AT_PATH = re.compile(r"^(?P<message>.*?) - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")


def is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json(req: Request, decoder: msgspec.json.Decoder[T]) -> T:
    if not is_json(req.headers.get("content-type")):
        raise UnsupportedMediaType()
    body = await req.body()
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([field_error(str(exc))]) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise MalformedBody("The request body is not valid JSON (UTF-8)") from None
    except RecursionError:
        raise MalformedBody("The request body is nested too deeply") from None


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
