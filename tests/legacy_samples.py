"""Password hashes in every format `authgate import-users` accepts, made by the real libraries that write them.

Cost parameters are small so that tests stay fast, except Werkzeug's scrypt, which is its default as it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import argon2
import bcrypt
from werkzeug.security import generate_password_hash

with warnings.catch_warnings():  # passlib 1.7.4 imports the `crypt` module, deprecated since Python 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    from passlib.hash import pbkdf2_sha256, pbkdf2_sha512


def _django(algorithm: str) -> Callable[[str], str]:
    def make(password: str) -> str:
        from django.conf import settings

        if not settings.configured:
            settings.configure(
                PASSWORD_HASHERS=[
                    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
                    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
                ]
            )
        from django.contrib.auth.hashers import PBKDF2PasswordHasher, PBKDF2SHA1PasswordHasher

        base = PBKDF2PasswordHasher if algorithm == "pbkdf2_sha256" else PBKDF2SHA1PasswordHasher
        hasher = type("Fast", (base,), {"iterations": 1000})()
        encoded: str = hasher.encode(password, hasher.salt())
        return encoded

    return make


def _bcrypt(prefix: bytes) -> Callable[[str], str]:
    return lambda password: bcrypt.hashpw(password.encode(), bcrypt.gensalt(4, prefix=prefix)).decode()


def _argon2(kind: argon2.Type) -> Callable[[str], str]:
    return lambda password: argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=2, type=kind).hash(password)


MAKERS: dict[str, Callable[[str], str]] = {
    "werkzeug-scrypt": generate_password_hash,  # Werkzeug's default: scrypt:32768:8:1
    "werkzeug-pbkdf2": lambda password: generate_password_hash(password, "pbkdf2:sha256:1000"),
    "bcrypt-2a": _bcrypt(b"2a"),
    "bcrypt-2b": _bcrypt(b"2b"),
    "bcrypt-2y": lambda password: "$2y$" + _bcrypt(b"2b")(password)[4:],  # PHP's password_hash
    "argon2id": _argon2(argon2.Type.ID),
    "argon2i": _argon2(argon2.Type.I),
    "passlib-pbkdf2-sha256": lambda password: pbkdf2_sha256.using(rounds=1000).hash(password),
    "passlib-pbkdf2-sha512": lambda password: pbkdf2_sha512.using(rounds=1000).hash(password),
    "django-pbkdf2-sha256": _django("pbkdf2_sha256"),
    "django-pbkdf2-sha1": _django("pbkdf2_sha1"),
}
"""Sample name → a function making that kind of hash of a password."""

SCHEMES = {
    "bcrypt-2a": "bcrypt",
    "bcrypt-2b": "bcrypt",
    "bcrypt-2y": "bcrypt",
}
"""Sample name → the scheme `legacy_hashes.identify` names, where the two differ."""


def scheme_of(sample: str) -> str:
    return SCHEMES.get(sample, sample)
