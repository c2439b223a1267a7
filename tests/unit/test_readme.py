"""The README stays true: every setting and every route is documented there."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from authgate.app import build_router
from authgate.config import Settings, load_settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"AUTHGATE_{f.name.upper()}"
        for f in msgspec.structs.fields(Settings)
        if f"`AUTHGATE_{f.name.upper()}`" not in README
    ]
    assert missing == []


def test_every_route_is_documented() -> None:
    settings = load_settings({}, bench_endpoints=False)
    documented = set(re.findall(r"`(?:GET|POST|PATCH|PUT|DELETE) (/[^` ]*)`", README))
    missing = sorted({r.template for r in build_router(settings).routes} - documented)
    assert missing == []
