"""Properties of username and email normalisation (domain/users.py).

- `check_username` / `check_email` never raise: they return the normalised form, or "" and append why.
- What they return is a fixed point: checking it again returns it unchanged, and its key is its own key.
- Look-alikes clash: a valid name spelled with fullwidth letters, other case, or other compatibility forms
  (circled, mathematical, superscript letters that NFKC folds) has the same key, as the README promises.
- The key is what uniqueness and login use: `login_key` of what a user types equals the stored key.

Quick-suite tests: pure functions, a few hundred examples each.
"""

# ruff: noqa: RUF001 (look-alike letters are the point)
from __future__ import annotations

import contextlib
import string
import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from authgate.domain.users import (
    USERNAME_MAX,
    USERNAME_MIN,
    check_email,
    check_username,
    email_key,
    login_key,
    username_key,
)
from authgate.errors import FieldError

QUICK = settings(max_examples=400, deadline=None)
NAME_ALPHABET = string.ascii_letters + string.digits + "_.-"
valid_names = st.text(alphabet=NAME_ALPHABET, min_size=USERNAME_MIN, max_size=USERNAME_MAX)


def _forms(char: str) -> list[str]:
    """Characters that NFKC + case folding turn into `char`'s key: itself, its other case, its fullwidth form,
    and compatibility forms (circled, mathematical bold and double-struck, superscript) where they exist."""
    forms = {char, char.upper(), char.lower()}
    if "!" <= char <= "~":
        forms.add(chr(ord(char) + 0xFEE0))  # fullwidth
    for name in (f"CIRCLED LATIN SMALL LETTER {char.upper()}", f"MATHEMATICAL BOLD SMALL {char.upper()}",
                 f"MATHEMATICAL DOUBLE-STRUCK CAPITAL {char.upper()}", f"MODIFIER LETTER SMALL {char.upper()}",
                 f"MATHEMATICAL BOLD DIGIT {unicodedata.name(char, 'X').removeprefix('DIGIT ')}"):  # fmt: skip
        with contextlib.suppress(KeyError):
            forms.add(unicodedata.lookup(name))
    return sorted(f for f in forms if unicodedata.normalize("NFKC", f).casefold() == char.casefold())


@st.composite
def look_alikes(draw: st.DrawFn) -> tuple[str, str]:
    """A valid name, and the same name with each character drawn from its look-alike forms."""
    name = draw(valid_names)
    return name, "".join(draw(st.sampled_from(_forms(c))) for c in name)


@QUICK
@given(st.text(max_size=80))
@example("\ud800admin")
@example("\x00\x00\x00")
@example("ﷺ" * 3)  # NFKC makes 18 characters of each
def test_check_username_never_raises_and_returns_a_fixed_point(raw: str) -> None:
    errors: list[FieldError] = []
    name = check_username(raw, errors)
    assert (name == "") == bool(errors)
    if name:
        again: list[FieldError] = []
        assert check_username(name, again) == name and not again
        assert name.isascii() and USERNAME_MIN <= len(name) <= USERNAME_MAX
        assert username_key(name) == name.lower() == username_key(username_key(name))


@QUICK
@given(look_alikes())
@example(("admin", "ａdmin"))
@example(("Admin", "ＡＤＭＩＮ"))
def test_look_alikes_of_a_name_are_the_same_name(pair: tuple[str, str]) -> None:
    name, variant = pair
    errors: list[FieldError] = []
    checked = check_username(variant, errors)
    assert not errors, (variant, errors)
    assert username_key(checked) == username_key(name) == login_key(variant) == login_key(f"  {variant} ")


@QUICK
@given(st.text(max_size=80) | st.emails().map(lambda e: e[:254]))
@example("\ud800@example.com")
@example("a@\udc80.com")
@example("admin@ＥＸＡＭＰＬＥ.com")
@example("x" * 300 + "@example.com")
def test_check_email_never_raises_and_returns_a_fixed_point(raw: str) -> None:
    errors: list[FieldError] = []
    address = check_email(raw, errors)
    assert (address == "") == bool(errors)
    if address:
        again: list[FieldError] = []
        assert check_email(address, again) == address and not again
        assert email_key(address) == email_key(email_key(address)) == login_key(address)


@QUICK
@given(st.emails(), st.data())
def test_case_and_width_variants_of_an_email_have_its_key(address: str, data: st.DataObject) -> None:
    errors: list[FieldError] = []
    stored = check_email(address, errors)
    if errors:
        return
    local, _, domain = stored.rpartition("@")
    variant_local = "".join(data.draw(st.sampled_from(_forms(c))) if c.isascii() else c for c in local)
    variant = f"{variant_local}@{domain.upper()}"
    checked = check_email(variant, errors)
    assert not errors, (variant, errors)
    assert email_key(checked) == email_key(stored) == login_key(variant)


@QUICK
@given(st.text(max_size=40))
@example("\u00b8")
def test_the_stored_keys_are_idempotent_on_any_text(text: str) -> None:
    for key in (username_key, email_key):
        assert key(key(text)) == key(text)
    # login_key strips before NFKC, so it is not idempotent where NFKC makes a leading space (U+00B8 → " \u0327");
    # no stored key starts with a space (neither a username nor an email may hold one), so a login by such
    # text finds nobody either way.
