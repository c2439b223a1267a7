"""Access tokens: EdDSA-signed JWTs (RFC 9068 profile), issued and verified per RFC 8725.

Verification is written against `cryptography` and msgspec directly rather than a general JWT library:
the only accepted header is `{"alg": "EdDSA", "typ": "at+jwt", "kid": <one of our keys>}`, so there is no
algorithm to confuse and no generic path to pay for. Tokens that verified are remembered until they expire
(a bounded map), because the signature check is the most expensive part of an authenticated request;
revocation is checked separately, on every request, against the session.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable

import msgspec
from cryptography.exceptions import InvalidSignature

from authgate.domain.keys import ALGORITHM, Keyring
from authgate.errors import InvalidAccessToken

TOKEN_TYPE = "at+jwt"  # noqa: S105
MAX_TOKEN_LENGTH = 8192
LEEWAY_SECONDS = 5


class AccessClaims(msgspec.Struct, frozen=True, kw_only=True):
    iss: str
    sub: str
    aud: str
    exp: int
    iat: int
    nbf: int
    jti: str
    sid: str
    roles: tuple[str, ...]
    username: str
    email_verified: bool = False
    amr: tuple[str, ...] = ("pwd",)
    """RFC 8176: how the user signed in (`pwd`; with `otp` and `mfa` after a second factor)."""


class _Header(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    alg: str
    typ: str
    kid: str


class UnknownKey(InvalidAccessToken):
    """Signed with a key id this worker does not know (yet): reload the key ring and try once more."""


_header_decoder = msgspec.json.Decoder(_Header)
_claims_decoder = msgspec.json.Decoder(AccessClaims)
_encoder = msgspec.json.Encoder()


def _b64decode(segment: str) -> bytes:
    """Unpadded base64url, in its one canonical spelling only (RFC 7515 §2): padding, or unused bits that are
    not zero, would give one token many spellings (authgate.client refuses them too)."""
    if not segment or len(segment) % 4 == 1:
        raise InvalidAccessToken("malformed token")
    padded = segment.replace("-", "+").replace("_", "/") + "=" * (-len(segment) % 4)
    try:
        raw = binascii.a2b_base64(padded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidAccessToken("malformed token") from None
    if _b64encode(raw) != segment:
        raise InvalidAccessToken("malformed token")
    return raw


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class AccessTokens:
    def __init__(
        self,
        issuer: str,
        audience: str,
        ttl: int,
        keyring: Keyring,
        now: Callable[[], float],
        cache_size: int = 10_000,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._now = now
        self._cache: dict[str, AccessClaims] = {}
        self._cache_size = cache_size
        self.use_keyring(keyring)

    def use_keyring(self, keyring: Keyring) -> None:
        self.keyring = keyring
        header = _encoder.encode({"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": keyring.kid})
        self._signing_prefix = _b64encode(header) + "."

    def issue(
        self,
        *,
        user_id: str,
        session_id: str,
        roles: tuple[str, ...],
        username: str,
        email_verified: bool,
        amr: tuple[str, ...] = ("pwd",),
    ) -> str:
        now = int(self._now())
        claims = AccessClaims(
            iss=self.issuer,
            sub=user_id,
            aud=self.audience,
            exp=now + self.ttl,
            iat=now,
            nbf=now,
            jti=secrets.token_urlsafe(12),
            sid=session_id,
            roles=roles,
            username=username,
            email_verified=email_verified,
            amr=amr,
        )
        signing_input = self._signing_prefix + _b64encode(_encoder.encode(claims))
        signature = self.keyring.private_key.sign(signing_input.encode("ascii"))
        return signing_input + "." + _b64encode(signature)

    def verify(self, token: str) -> AccessClaims:
        now = self._now()
        cached = self._cache.get(token)
        if cached is not None:
            if cached.exp + LEEWAY_SECONDS > now:
                return cached
            del self._cache[token]
            raise InvalidAccessToken("the token has expired")
        claims = self._verify(token, now)
        if len(self._cache) >= self._cache_size:
            # Evict the oldest entry (dicts keep insertion order): bounded memory, O(1).
            del self._cache[next(iter(self._cache))]
        self._cache[token] = claims
        return claims

    def _verify(self, token: str, now: float) -> AccessClaims:
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise InvalidAccessToken("malformed token")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidAccessToken("malformed token")
        header_b64, payload_b64, signature_b64 = parts
        try:
            header = _header_decoder.decode(_b64decode(header_b64))
        except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec raises the latter for bytes not UTF-8
            raise InvalidAccessToken("malformed token header") from None
        if header.alg != ALGORITHM:
            raise InvalidAccessToken("unsupported algorithm")
        if header.typ != TOKEN_TYPE:
            raise InvalidAccessToken("not an access token")
        key = self.keyring.public_keys.get(header.kid)
        if key is None:
            raise UnknownKey("signed by an unknown key")
        try:
            key.verify(_b64decode(signature_b64), (header_b64 + "." + payload_b64).encode("ascii"))
        except InvalidSignature:
            raise InvalidAccessToken("bad signature") from None
        try:
            claims = _claims_decoder.decode(_b64decode(payload_b64))
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise InvalidAccessToken("malformed token claims") from None
        if claims.iss != self.issuer:
            raise InvalidAccessToken("wrong issuer")
        if claims.aud != self.audience:
            raise InvalidAccessToken("wrong audience")
        if claims.exp + LEEWAY_SECONDS <= now:
            raise InvalidAccessToken("the token has expired")
        if claims.nbf - LEEWAY_SECONDS > now or claims.iat - LEEWAY_SECONDS > now:
            raise InvalidAccessToken("the token is not valid yet")
        return claims
