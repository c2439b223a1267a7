"""Users: the entity, and the rules for usernames, email addresses and roles.

Usernames and emails are unique without regard to case or Unicode look-alikes: both are NFKC-normalised,
and their *keys* (what uniqueness and login look-ups use) are case-folded, so `\uff41dmin` (with a fullwidth
a), `Admin` and `admin` are one name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime

import msgspec

from authgate.errors import FieldError

USERNAME_MIN, USERNAME_MAX = 3, 32
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
_USERNAME_RE = re.compile(USERNAME_PATTERN)
EMAIL_MAX = 254
ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
NO_PASSWORD = ""
"""The `password_hash` of an account that has no password yet: nothing matches it."""


class User(msgspec.Struct, kw_only=True):
    id: str
    username: str
    email: str
    password_hash: str
    """The PHC string of the password; NO_PASSWORD ("") until an invited user chooses one."""
    roles: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    disabled: bool = False
    email_verified: bool = False

    @property
    def username_key(self) -> str:
        return username_key(self.username)

    @property
    def email_key(self) -> str:
        return email_key(self.email)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def has_password(self) -> bool:
        """False for an account an admin made without a password, until the invitation's link is followed."""
        return self.password_hash != NO_PASSWORD


def username_key(username: str) -> str:
    return unicodedata.normalize("NFKC", username).casefold()


def email_key(email: str) -> str:
    return unicodedata.normalize("NFKC", email).casefold()


def login_key(login: str) -> str:
    """The key to look a user up by what they typed in the login form: a username or an email."""
    return unicodedata.normalize("NFKC", login.strip()).casefold()


def check_username(raw: str, errors: list[FieldError], field: str = "username") -> str:
    """The NFKC form of `raw`, or "" after appending why it is not a valid username."""
    name = unicodedata.normalize("NFKC", raw)
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        errors.append(FieldError(field, f"must be {USERNAME_MIN} to {USERNAME_MAX} characters"))
        return ""
    if not _USERNAME_RE.match(name):
        errors.append(FieldError(field, "may contain only letters A-Z, digits and _ . -"))
        return ""
    return name


def check_email(raw: str, errors: list[FieldError], field: str = "email") -> str:
    """The normalised form of `raw`, or "" after appending why it is not a valid address."""
    if len(raw) > EMAIL_MAX:
        errors.append(FieldError(field, f"must be at most {EMAIL_MAX} characters"))
        return ""
    import email_validator  # here, not at the top: some 40 ms of start-up that only registrations need

    try:
        info = email_validator.validate_email(raw, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        errors.append(FieldError(field, str(exc)))
        return ""
    return str(info.normalized)


def check_roles(
    roles: Iterable[str], allowed: Iterable[str], errors: list[FieldError], field: str = "roles"
) -> tuple[str, ...]:
    known = set(allowed)
    wanted = tuple(dict.fromkeys(roles))
    unknown = [r for r in wanted if r not in known]
    if unknown:
        errors.append(FieldError(field, f"unknown role(s): {', '.join(sorted(unknown))}"))
    return wanted
