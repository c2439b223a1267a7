"""The public API of the `authgate` package is a contract (that of `authgate.client` is held in tests/client)."""

from __future__ import annotations

import sys

import pytest

import authgate

PUBLIC = {"App", "ConfigError", "Settings", "__version__", "create_app", "load_settings"}


def test_exported_members() -> None:
    assert set(authgate.__all__) == PUBLIC
    for name in PUBLIC - {"__version__"}:
        member = getattr(authgate, name)
        assert member.__module__ in {"authgate.app", "authgate.config"}, name
    assert isinstance(authgate.__version__, str)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        authgate.nope  # type: ignore[attr-defined]  # noqa: B018


def test_without_the_server_a_server_name_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """As where authgate-client alone is installed (tests/client/test_client_distribution.py does that for real)."""
    monkeypatch.setitem(sys.modules, "authgate.config", None)
    with pytest.raises(ModuleNotFoundError, match=r"authgate\.Settings is part of the authgate server") as raised:
        from authgate import Settings  # noqa: F401
    assert "pip install authgate`" in str(raised.value)
    assert raised.value.name == "authgate.config"
