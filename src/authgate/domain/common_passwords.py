"""The most common passwords, which a new password must not be (NIST SP 800-63B 3.1.1.2).

The list is packaged data, `data/common-passwords.txt`: its README says where it comes from and how it is
rebuilt. Entries are stored as the password policy compares them, NFKC-normalized and casefolded.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load_common_passwords() -> frozenset[str]:
    """The common passwords, casefolded; read from the package once, on first use."""
    text = files("authgate.domain").joinpath("data", "common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.casefold() for line in text.splitlines() if line)
