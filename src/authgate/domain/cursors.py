"""Opaque, signed page cursors for keyset pagination.

A cursor carries the position of the last row of a page (its sort key and id) together with a digest of the
listing it was made for (the sort, the prefix and the role filter), serialised with msgpack and signed with
HMAC-SHA256 under a server secret kept in the key store. A cursor that was edited, made by another server, or
reused with another sort or filter is refused with `InvalidCursor`; the client never learns, nor can choose,
where it points. The listing travels as a digest, not as itself, so that a cursor stays short whatever the
prefix (`q` may be 254 characters of any script): every cursor the server makes fits MAX_CURSOR_LENGTH.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import msgspec

from authgate.domain.clock import Clock
from authgate.domain.ids import is_id
from authgate.domain.server_secrets import server_secret
from authgate.errors import InvalidCursor
from authgate.storage.base import Database

CURSOR_SECRET = "cursor_signing"  # noqa: S105  (a name, not a secret)
VERSION = 2
"""2: the listing as a digest (1 carried the listing itself, and outgrew MAX_CURSOR_LENGTH with a long `q`)."""
TAG_BYTES = 16
LISTING_DIGEST_BYTES = 16
MAX_CURSOR_LENGTH = 512


class Listing(msgspec.Struct, frozen=True, array_like=True):
    """What a cursor is valid for: the listing's name, its sort and its filters."""

    name: str
    sort: str
    prefix: str = ""
    role: str = ""


class _Payload(msgspec.Struct, frozen=True, array_like=True):
    version: int
    listing: bytes
    """The digest of the Listing (`_digest`)."""
    key: str
    id: str


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Payload)


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the cursor secret must be at least 32 bytes")
        self._secret = secret

    @classmethod
    async def bootstrap(cls, db: Database, clock: Clock) -> CursorCodec:
        """The codec with the server's cursor secret, made on first start (once, whatever the concurrency)."""
        secret = await server_secret(db, CURSOR_SECRET, clock)
        return cls(secret)

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:TAG_BYTES]

    def encode(self, listing: Listing, position: tuple[str, str]) -> str:
        payload = _encoder.encode(_Payload(VERSION, _digest(listing), position[0], position[1]))
        return base64.urlsafe_b64encode(payload + self._tag(payload)).rstrip(b"=").decode("ascii")

    def decode(self, cursor: str, listing: Listing) -> tuple[str, str]:
        """The position a cursor carries, if this server made it for exactly this listing."""
        if not cursor or len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
            raise InvalidCursor()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursor() from None
        payload, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        if len(raw) <= TAG_BYTES or not hmac.compare_digest(tag, self._tag(payload)):
            raise InvalidCursor()
        try:
            decoded = _decoder.decode(payload)
        except msgspec.DecodeError:
            raise InvalidCursor() from None
        if decoded.version != VERSION or not is_id(decoded.id):
            raise InvalidCursor()
        if not hmac.compare_digest(decoded.listing, _digest(listing)):
            raise InvalidCursor("The cursor belongs to another listing (a different sort, q or role)")
        return decoded.key, decoded.id


def _digest(listing: Listing) -> bytes:
    return hashlib.sha256(_encoder.encode(listing)).digest()[:LISTING_DIGEST_BYTES]
