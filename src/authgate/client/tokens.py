"""Access-token verification per RFC 8725, with no I/O: `verify(token, keys, ...) -> Claims`.

authgate signs exactly one kind of token, so exactly one header is accepted:
`{"alg": "EdDSA", "typ": "at+jwt", "kid": <a key in the set>}`. There is no algorithm negotiation to
confuse (`none`, HS256 keyed with the public key, ...), and no header field that could point at a key
(`jwk`, `jku`, `x5u`): unknown header fields are rejected. Checks run cheapest first, and nothing is
decoded before the size check. Whatever the input, the only exception raised is `InvalidToken`.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from authgate.client.errors import ExpiredToken, Forbidden, InvalidToken, UnknownKey

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
MAX_TOKEN_LENGTH = 8192
DEFAULT_AUDIENCE = "authgate"
DEFAULT_LEEWAY = 30.0
"""Seconds of clock skew tolerated on `exp` and `nbf`."""


class Claims(msgspec.Struct, frozen=True, kw_only=True):
    """The claims of a verified authgate access token."""

    iss: str
    sub: str
    """The user id (opaque)."""
    aud: str
    exp: int
    iat: int
    nbf: int
    jti: str
    sid: str
    """The session id: logging out ends the session and every token issued in it."""
    roles: tuple[str, ...]
    username: str
    email_verified: bool = False
    amr: tuple[str, ...] = ("pwd",)
    """RFC 8176: how the user signed in; `mfa` in it when the login took a second factor."""

    def has_roles(self, *roles: str) -> bool:
        """True if the user has every one of `roles`."""
        return all(role in self.roles for role in roles)

    @property
    def used_second_factor(self) -> bool:
        """True if the session was started with a password and a second factor (two-step login)."""
        return "mfa" in self.amr


class _Header(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    alg: str
    typ: str
    kid: str


_header_decoder = msgspec.json.Decoder(_Header)
_claims_decoder = msgspec.json.Decoder(Claims)


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded base64url, accepting only the one canonical spelling of each byte string."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed token") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
        raise InvalidToken("malformed token")
    return raw


def verify(
    token: str,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    issuer: str,
    audience: str = DEFAULT_AUDIENCE,
    leeway: float = DEFAULT_LEEWAY,
    now: float | None = None,
) -> Claims:
    """Verify an access token against a known set of public keys and return its claims.

    Raises `UnknownKey` (an `InvalidToken`) when the token names a key id that is not in `keys`,
    `ExpiredToken` when it has expired, and `InvalidToken` for everything else.
    """
    header, payload_b64, signature = _split(token)
    key = keys.get(header.kid)
    if key is None:
        raise UnknownKey(header.kid)
    try:
        key.verify(signature, token[: token.rindex(".")].encode("ascii"))
    except InvalidSignature:
        raise InvalidToken("bad signature") from None
    try:
        claims = _claims_decoder.decode(b64url_decode(payload_b64))
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise InvalidToken("malformed token claims") from None
    if claims.iss != issuer:
        raise InvalidToken("wrong issuer")
    if claims.aud != audience:
        raise InvalidToken("wrong audience")
    now = time.time() if now is None else now
    if claims.exp + leeway <= now:
        raise ExpiredToken("the token has expired")
    if claims.nbf - leeway > now:
        raise InvalidToken("the token is not valid yet")
    return claims


def require_roles(claims: Claims, roles: tuple[str, ...]) -> None:
    missing = [role for role in roles if role not in claims.roles]
    if missing:
        raise Forbidden("This needs the role" + ("s " if len(missing) > 1 else " ") + ", ".join(missing))


def _split(token: str) -> tuple[_Header, str, bytes]:
    """Check the size, the shape and the header; return the header, the payload segment and the signature."""
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidToken("malformed token")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    header_b64, payload_b64, signature_b64 = parts
    try:
        header = _header_decoder.decode(b64url_decode(header_b64))
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec raises the latter for bytes not UTF-8
        raise InvalidToken("malformed token header") from None
    if header.alg != ALGORITHM:
        raise InvalidToken("unsupported algorithm")
    if header.typ != TOKEN_TYPE:
        raise InvalidToken("not an access token")
    return header, payload_b64, b64url_decode(signature_b64)
