"""The errors `authgate.client` raises, each with a stable snake_case `code` (the same codes authgate uses).

    ClientError
    ├── InvalidToken            401 invalid_token         the token must not be trusted; the only error
    │   ├── ExpiredToken                                  that hostile token text can ever cause
    │   ├── UnknownKey                                    signed by a key id not in the key set
    │   └── RevokedToken                                  introspection says `active: false` (logged out)
    ├── MissingToken            401 missing_token         no `Authorization: Bearer` header
    ├── Forbidden               403 forbidden             a valid token without a required role
    └── AuthgateUnavailable     503 authgate_unavailable  keys or introspection could not be fetched

The statuses are chosen in one place, `authgate.client.web`, which the framework adapters share.
"""

from __future__ import annotations

from typing import ClassVar


class ClientError(Exception):
    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"
    detail: str

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)


class InvalidToken(ClientError):
    code = "invalid_token"
    title = "The access token is invalid"


class ExpiredToken(InvalidToken):
    title = "The access token has expired"


class UnknownKey(InvalidToken):
    title = "The access token is signed by an unknown key"

    def __init__(self, kid: str) -> None:
        super().__init__()
        self.kid = kid


class RevokedToken(InvalidToken):
    title = "The access token has been revoked"


class MissingToken(ClientError):
    code = "missing_token"
    title = "An access token is required"


class Forbidden(ClientError):
    code = "forbidden"
    title = "Forbidden"


class AuthgateUnavailable(ClientError):
    code = "authgate_unavailable"
    title = "authgate cannot be reached to check the access token"
