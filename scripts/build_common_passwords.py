"""Build src/authgate/domain/data/common-passwords.txt from the list Django ships.

    pip install django==5.2.19 && python scripts/build_common_passwords.py

Django's `django/contrib/auth/common-passwords.txt.gz` is Royce Williams' list of the 20,000 most common
passwords, most common first, lowercased, unhexed and deduplicated by Django (19,640 lines in 5.2). Each
entry is put in the form authgate compares passwords in (NFKC, then casefold) and the first occurrence of
each is kept, so the order stays the frequency rank.
"""

from __future__ import annotations

import gzip
import sys
import unicodedata
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "src/authgate/domain/data/common-passwords.txt"


def main() -> None:
    source = files("django.contrib.auth").joinpath("common-passwords.txt.gz").read_bytes()
    ranked: dict[str, None] = {}
    for line in gzip.decompress(source).decode("utf-8").splitlines():
        entry = unicodedata.normalize("NFKC", line.strip()).casefold()
        if entry:
            ranked.setdefault(entry)
    OUTPUT.write_text("".join(f"{entry}\n" for entry in ranked), encoding="utf-8")
    print(f"{len(ranked)} passwords from Django {version('django')} -> {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
