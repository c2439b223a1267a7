"""Verifying the password hashes that users bring with them from other systems.

authgate only ever writes argon2id. This module lets a user imported from elsewhere log in with the password
they already have; the caller then rehashes it with the current argon2id parameters.

    scheme                   encoded form                                       written by
    werkzeug-pbkdf2          pbkdf2:sha256:600000$salt$hexhash                  Werkzeug generate_password_hash
    werkzeug-scrypt          scrypt:32768:8:1$salt$hexhash                      Werkzeug >= 2.3 (its default)
    bcrypt                   $2b$12$<22 salt><31 hash>   ($2a$, $2y$ too)       bcrypt, Flask-Bcrypt, PHP
    argon2id, argon2i        $argon2id$v=19$m=65536,t=3,p=4$salt$hash           argon2-cffi, any PHC library
    passlib-pbkdf2-sha256    $pbkdf2-sha256$29000$ab64salt$ab64hash             passlib (also -sha512, sha1)
    django-pbkdf2-sha256     pbkdf2_sha256$1000000$salt$base64hash              Django (also pbkdf2_sha1)

Werkzeug's pbkdf2 takes sha1, sha224, sha256, sha384 or sha512; `pbkdf2:sha256$salt$hash`, without an
iteration count, means 260,000 iterations, the default of Werkzeug 2.0 to 2.2, the last releases whose
default method was pbkdf2 (no Werkzeug release ever wrote that form: each stored the count it used).

Hostile input. A stored hash may come from an import file, so its cost parameters are bounded: verifying the
most expensive hash accepted here takes a few seconds of one core and at most 1 GiB of memory (argon2). A
string out of those bounds, malformed or of an unknown scheme raises `UnsupportedHash`, whose message names
the scheme and the rule broken but never repeats the hash or the password.

bcrypt reads at most 72 bytes of a password. The `bcrypt` package refuses longer passwords since 5.0 rather
than truncating them, and so does `verify`: a password of more than 72 UTF-8 bytes never matches a bcrypt hash
(it still costs one bcrypt computation, so that the answer takes the usual time). A user whose earlier system
silently truncated such a password has to reset it.

Passwords are encoded as UTF-8, as every one of these libraries does, and are not normalized here: the hash
was made from the bytes the user typed then. A password that cannot be encoded (a lone surrogate) matches
nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Final, Literal, NamedTuple

from argon2 import Type
from argon2.low_level import hash_secret_raw

MAX_ENCODED_LENGTH: Final = 1024
MAX_PBKDF2_ITERATIONS: Final = 10_000_000
MAX_SCRYPT_N: Final = 2**20
MAX_SCRYPT_MEMORY: Final = 256 * 2**20  # bytes, as OpenSSL counts them: 128 * r * (n + p + 2)
MAX_SCRYPT_WORK: Final = 2**22  # n * r * p; Werkzeug's default is 2**18
MAX_BCRYPT_COST: Final = 16
MAX_ARGON2_MEMORY_KIB: Final = 2**20  # 1 GiB
MAX_ARGON2_TIME_COST: Final = 20
MAX_ARGON2_PARALLELISM: Final = 32
MAX_ARGON2_WORK_KIB: Final = 2**21  # memory * time cost: 2 GiB of passes, about 4 s
BCRYPT_MAX_PASSWORD_BYTES: Final = 72
WERKZEUG_IMPLICIT_PBKDF2_ITERATIONS: Final = 260_000

Problem = Literal["unknown_scheme", "malformed", "out_of_bounds"]


class UnsupportedHash(ValueError):
    """The string is not a hash this module can verify; `problem` says which kind of reason, the message which."""

    def __init__(self, problem: Problem, reason: str) -> None:
        super().__init__(reason)
        self.problem: Problem = problem


def identify(encoded: str) -> str:
    """The scheme of `encoded`, e.g. "werkzeug-scrypt"; raises `UnsupportedHash` exactly when `verify` would."""
    return _parse(encoded).scheme


def verify(encoded: str, password: str) -> bool:
    """Whether `password` is the one `encoded` was made from, compared in constant time."""
    parsed = _parse(encoded)
    try:
        secret = password.encode()
    except UnicodeEncodeError:
        return False
    return parsed.check.matches(secret)


# One type per key-derivation function: the parameters parsed out of the string, and the check. NamedTuples
# rather than dataclasses, which take several times as long to define, at every start-up.


class _Pbkdf2(NamedTuple):
    digest: str
    iterations: int
    salt: bytes
    expected: bytes

    def matches(self, secret: bytes) -> bool:
        derived = hashlib.pbkdf2_hmac(self.digest, secret, self.salt, self.iterations)
        return hmac.compare_digest(derived, self.expected)


class _Scrypt(NamedTuple):
    n: int
    r: int
    p: int
    salt: bytes
    expected: bytes

    def matches(self, secret: bytes) -> bool:
        derived = hashlib.scrypt(
            secret, salt=self.salt, n=self.n, r=self.r, p=self.p, maxmem=MAX_SCRYPT_MEMORY, dklen=64
        )
        return hmac.compare_digest(derived, self.expected)


class _Bcrypt(NamedTuple):
    encoded: bytes

    def matches(self, secret: bytes) -> bool:
        import bcrypt  # on the first such hash: only users brought from another system have one

        derived = bcrypt.hashpw(secret[:BCRYPT_MAX_PASSWORD_BYTES], self.encoded)
        return len(secret) <= BCRYPT_MAX_PASSWORD_BYTES and hmac.compare_digest(derived, self.encoded)


class _Argon2(NamedTuple):
    type: Type
    version: int
    memory_kib: int
    time_cost: int
    parallelism: int
    salt: bytes
    expected: bytes

    def matches(self, secret: bytes) -> bool:
        derived = hash_secret_raw(
            secret,
            self.salt,
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            hash_len=len(self.expected),
            type=self.type,
            version=self.version,
        )
        return hmac.compare_digest(derived, self.expected)


class _Parsed(NamedTuple):
    scheme: str
    check: _Pbkdf2 | _Scrypt | _Bcrypt | _Argon2


# Parsing. Every pattern is matched in full, with ASCII-only classes ([0-9], never \d). They are compiled (into
# `re`'s cache) on first use, not at import: compiling all six took about 2 ms of every start-up.

_NUMBER = r"(0|[1-9][0-9]{0,9})"
_TEXT_SALT = r"([!-#%-~]+)"  # printable ASCII but "$" and space: Werkzeug and Django write alphanumerics
_B64 = r"([A-Za-z0-9+/]+)"
_AB64 = r"([./A-Za-z0-9]*)"

_WERKZEUG_PBKDF2 = rf"pbkdf2:([a-z0-9_]+)(?::{_NUMBER})?\${_TEXT_SALT}\$([0-9a-f]+)"
_WERKZEUG_SCRYPT = rf"scrypt(?::{_NUMBER}:{_NUMBER}:{_NUMBER})?\${_TEXT_SALT}\$([0-9a-f]+)"
# 22 characters of salt (16 bytes: the last character carries 2 bits, so it is one of ".Oeu"), 31 of hash.
_BCRYPT = r"\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{21}[.Oeu][./A-Za-z0-9]{31}"
_ARGON2 = rf"\$(argon2id|argon2i)\$(?:v={_NUMBER}\$)?m={_NUMBER},t={_NUMBER},p={_NUMBER}\${_B64}\${_B64}"
_PASSLIB_PBKDF2 = rf"\$pbkdf2(-sha256|-sha512|)\${_NUMBER}\${_AB64}\${_AB64}"
_DJANGO_PBKDF2 = rf"pbkdf2_(sha256|sha1)\${_NUMBER}\${_TEXT_SALT}\$([A-Za-z0-9+/]+=*)"

_WERKZEUG_DIGESTS = frozenset({"sha1", "sha224", "sha256", "sha384", "sha512"})
_ARGON2_TYPES = {"argon2id": Type.ID, "argon2i": Type.I}


def _parse(encoded: str) -> _Parsed:
    if not encoded:
        raise UnsupportedHash("malformed", "the hash is empty")
    if len(encoded) > MAX_ENCODED_LENGTH:
        raise UnsupportedHash("malformed", f"the hash is longer than {MAX_ENCODED_LENGTH} characters")
    if not encoded.isascii():
        raise UnsupportedHash("malformed", "the hash has characters outside ASCII")
    if encoded.startswith("pbkdf2:"):
        return _parse_werkzeug_pbkdf2(encoded)
    if encoded.startswith(("scrypt:", "scrypt$")):
        return _parse_werkzeug_scrypt(encoded)
    if encoded.startswith(("$2a$", "$2b$", "$2y$")):
        return _parse_bcrypt(encoded)
    if encoded.startswith(("$argon2id$", "$argon2i$")):
        return _parse_argon2(encoded)
    if encoded.startswith(("$pbkdf2-sha256$", "$pbkdf2-sha512$", "$pbkdf2$")):
        return _parse_passlib_pbkdf2(encoded)
    if encoded.startswith(("pbkdf2_sha256$", "pbkdf2_sha1$")):
        return _parse_django_pbkdf2(encoded)
    raise UnsupportedHash("unknown_scheme", "the hash is of no scheme this module knows")


def _parse_werkzeug_pbkdf2(encoded: str) -> _Parsed:
    scheme = "werkzeug-pbkdf2"
    digest, iterations, salt, hexhash = _fields(_WERKZEUG_PBKDF2, encoded, scheme)
    if digest not in _WERKZEUG_DIGESTS:
        raise UnsupportedHash("unknown_scheme", f"{scheme}: the digest is not one of sha1, sha2-224..512")
    count = int(iterations) if iterations else WERKZEUG_IMPLICIT_PBKDF2_ITERATIONS
    _bound(scheme, "iterations", count, 1, MAX_PBKDF2_ITERATIONS)
    expected = _hex(scheme, hexhash, hashlib.new(digest).digest_size)
    return _Parsed(scheme, _Pbkdf2(digest, count, salt.encode(), expected))


def _parse_werkzeug_scrypt(encoded: str) -> _Parsed:
    scheme = "werkzeug-scrypt"
    n_text, r_text, p_text, salt, hexhash = _fields(_WERKZEUG_SCRYPT, encoded, scheme)
    n, r, p = (int(n_text), int(r_text), int(p_text)) if n_text else (2**15, 8, 1)  # Werkzeug's default
    _bound(scheme, "n", n, 2, MAX_SCRYPT_N)
    _bound(scheme, "r", r, 1, MAX_SCRYPT_WORK)
    _bound(scheme, "p", p, 1, MAX_SCRYPT_WORK)
    if n & (n - 1):
        raise UnsupportedHash("malformed", f"{scheme}: n is not a power of two")
    if 16 * r < 64 and n >= 2 ** (16 * r):
        raise UnsupportedHash("malformed", f"{scheme}: n must be less than 2**(16 * r)")
    if n * r * p > MAX_SCRYPT_WORK:
        raise UnsupportedHash("out_of_bounds", f"{scheme}: n * r * p is more than {MAX_SCRYPT_WORK}")
    if 128 * r * (n + p + 2) > MAX_SCRYPT_MEMORY:
        raise UnsupportedHash("out_of_bounds", f"{scheme}: needs more than {MAX_SCRYPT_MEMORY} bytes of memory")
    expected = _hex(scheme, hexhash, 64)
    return _Parsed(scheme, _Scrypt(n, r, p, salt.encode(), expected))


def _parse_bcrypt(encoded: str) -> _Parsed:
    scheme = "bcrypt"
    (cost,) = _fields(_BCRYPT, encoded, scheme)
    _bound(scheme, "cost", int(cost), 4, MAX_BCRYPT_COST)
    return _Parsed(scheme, _Bcrypt(encoded.encode()))


def _parse_argon2(encoded: str) -> _Parsed:
    variant, version, memory, time_cost, parallelism, salt, tag = _fields(_ARGON2, encoded, "argon2")
    scheme = variant
    # A PHC string without "v=" is of version 1.0 (0x10 = 16), the one before 1.3 (0x13 = 19).
    number = int(version) if version else 16
    if number not in (16, 19):
        raise UnsupportedHash("malformed", f"{scheme}: the version is neither 16 nor 19")
    t, p, m = int(time_cost), int(parallelism), int(memory)
    _bound(scheme, "t", t, 1, MAX_ARGON2_TIME_COST)
    _bound(scheme, "p", p, 1, MAX_ARGON2_PARALLELISM)
    _bound(scheme, "m", m, 8 * p, MAX_ARGON2_MEMORY_KIB)
    if m * t > MAX_ARGON2_WORK_KIB:
        raise UnsupportedHash("out_of_bounds", f"{scheme}: m * t is more than {MAX_ARGON2_WORK_KIB}")
    salt_bytes, expected = _b64(scheme, salt, altchars=None), _b64(scheme, tag, altchars=None)
    if len(salt_bytes) < 8 or len(expected) < 4:
        raise UnsupportedHash("malformed", f"{scheme}: the salt or the hash is too short")
    return _Parsed(scheme, _Argon2(_ARGON2_TYPES[scheme], number, m, t, p, salt_bytes, expected))


def _parse_passlib_pbkdf2(encoded: str) -> _Parsed:
    suffix, rounds, salt, checksum = _fields(_PASSLIB_PBKDF2, encoded, "passlib-pbkdf2")
    digest = suffix[1:] if suffix else "sha1"
    scheme = f"passlib-pbkdf2-{digest}"
    _bound(scheme, "rounds", int(rounds), 1, MAX_PBKDF2_ITERATIONS)
    # passlib's "adapted base64" is standard base64 with "." for "+" and no padding.
    salt_bytes, expected = _b64(scheme, salt, altchars=b"./"), _b64(scheme, checksum, altchars=b"./")
    if len(expected) != hashlib.new(digest).digest_size:
        raise UnsupportedHash("malformed", f"{scheme}: the hash has the wrong length")
    return _Parsed(scheme, _Pbkdf2(digest, int(rounds), salt_bytes, expected))


def _parse_django_pbkdf2(encoded: str) -> _Parsed:
    digest, iterations, salt, b64hash = _fields(_DJANGO_PBKDF2, encoded, "django-pbkdf2")
    scheme = f"django-pbkdf2-{digest}"
    _bound(scheme, "iterations", int(iterations), 1, MAX_PBKDF2_ITERATIONS)
    try:
        expected = base64.b64decode(b64hash, validate=True)
    except binascii.Error:
        raise UnsupportedHash("malformed", f"{scheme}: the hash is not valid base64") from None
    if len(expected) != hashlib.new(digest).digest_size:
        raise UnsupportedHash("malformed", f"{scheme}: the hash has the wrong length")
    return _Parsed(scheme, _Pbkdf2(digest, int(iterations), salt.encode(), expected))


def _fields(pattern: str, encoded: str, scheme: str) -> tuple[str, ...]:
    match = re.fullmatch(pattern, encoded)
    if match is None:
        raise UnsupportedHash("malformed", f"{scheme}: the hash does not have the scheme's form")
    return match.groups(default="")  # "" for an optional field that is absent


def _bound(scheme: str, name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise UnsupportedHash("out_of_bounds", f"{scheme}: {name} must be between {low} and {high}")


def _hex(scheme: str, text: str, size: int) -> bytes:
    if len(text) != 2 * size:
        raise UnsupportedHash("malformed", f"{scheme}: the hash has the wrong length")
    return bytes.fromhex(text)


def _b64(scheme: str, text: str, *, altchars: bytes | None) -> bytes:
    """Unpadded base64 as PHC strings and passlib write it."""
    if len(text) % 4 == 1:
        raise UnsupportedHash("malformed", f"{scheme}: a base64 field has an impossible length")
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=altchars, validate=True)
    except binascii.Error:
        raise UnsupportedHash("malformed", f"{scheme}: a base64 field is not valid") from None
