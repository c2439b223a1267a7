"""The packaged list of common passwords and its loader."""

from __future__ import annotations

import unicodedata
from importlib.resources import files

from authgate.domain.common_passwords import load_common_passwords


def test_the_list_has_the_most_common_passwords() -> None:
    common = load_common_passwords()
    assert len(common) >= 10_000
    assert {"password", "123456", "qwerty", "iloveyou", "letmein"} <= common
    assert "correct horse battery staple but longer" not in common


def test_it_is_loaded_once() -> None:
    assert load_common_passwords() is load_common_passwords()


def test_the_file_is_one_password_a_line_in_the_form_the_policy_compares() -> None:
    lines = files("authgate.domain").joinpath("data", "common-passwords.txt").read_text("utf-8").split("\n")
    assert lines[-1] == "", "the file ends with a newline"
    entries = lines[:-1]
    assert entries[:4] == ["123456", "123456789", "qwerty", "password"], "ranked, most common first"
    assert len(entries) == len(set(entries)) == len(load_common_passwords())
    for entry in entries:
        assert entry and entry == entry.strip()
        assert entry == unicodedata.normalize("NFKC", entry).casefold()
