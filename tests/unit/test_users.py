"""Usernames, emails and roles: normalisation and validation."""

from __future__ import annotations

import pytest

from authgate.domain.users import check_email, check_roles, check_username, email_key, login_key, username_key
from authgate.errors import FieldError


@pytest.mark.parametrize("name", ["admin", "Admin", "ADMIN", "\uff41dmin", "\uff21\uff44\uff4d\uff49\uff4e"])
def test_look_alike_usernames_share_one_key(name: str) -> None:
    errors: list[FieldError] = []
    normalized = check_username(name, errors)
    assert errors == []
    assert username_key(normalized) == "admin" == login_key(f"  {name} ")


@pytest.mark.parametrize("name", ["ab", "x" * 33, "with space", "émile", "a/b", "a\x00b", "", "<script>"])
def test_invalid_usernames(name: str) -> None:
    errors: list[FieldError] = []
    assert check_username(name, errors) == ""
    assert [e.field for e in errors] == ["username"]


def test_email_normalisation() -> None:
    errors: list[FieldError] = []
    assert check_email("Alice@EXAMPLE.com", errors) == "Alice@example.com"
    assert email_key("Alice@example.com") == "alice@example.com"
    for bad in ("no-at-sign", "a@", "@b.c", "a@b@c.d", "x" * 250 + "@e.com", "a\x00@b.com"):
        errors = []
        assert check_email(bad, errors) == ""
        assert errors and errors[0].field == "email"


def test_roles() -> None:
    errors: list[FieldError] = []
    assert check_roles(["user", "admin", "user"], ("admin", "user"), errors) == ("user", "admin")
    assert errors == []
    check_roles(["root"], ("admin", "user"), errors)
    assert errors == [FieldError("roles", "unknown role(s): root")]
