"""Numbered SQL migrations, packaged in `authgate/migrations/`.

`NNNN_name.sql` applies to every dialect; `NNNN_name.<dialect>.sql` is a dialect's own version of the same
step. Each database applies them in order inside a lock and records them in `schema_migrations`.
"""

from __future__ import annotations

import re
from importlib import resources

import msgspec

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$")


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    sql: str


def load_migrations(dialect: str) -> list[Migration]:
    chosen: dict[int, tuple[bool, Migration]] = {}
    for entry in resources.files("authgate.migrations").iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        version, name, only = int(match[1]), match[2], match[3]
        if only is not None and only != dialect:
            continue
        specific = only is not None
        if version in chosen and chosen[version][0] and not specific:
            continue
        chosen[version] = (specific, Migration(version, f"{match[1]}_{name}", entry.read_text("utf-8")))
    return [m for _, (_, m) in sorted(chosen.items())]
