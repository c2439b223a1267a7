"""authgate: a user-authentication and user-management service.

The public API of the package is small: the app factory, the settings and the version. They are imported
lazily, so that `import authgate.client` (for the services behind the login) pulls in none of the server.

Two distributions install this package: `authgate` (the server, which contains the client) and `authgate-client`
(client/pyproject.toml: this file, py.typed and `authgate.client` only). With the latter alone, asking for a
server name raises ModuleNotFoundError (an ImportError) that says so and how to install the server, instead of
a bare "No module named 'authgate.app'".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["App", "ConfigError", "Settings", "__version__", "create_app", "load_settings"]

if TYPE_CHECKING:
    from authgate.app import App, create_app
    from authgate.config import ConfigError, Settings, load_settings

_HOME = {"App": "app", "create_app": "app", "ConfigError": "config", "Settings": "config", "load_settings": "config"}


def __getattr__(name: str) -> Any:
    module_name = _HOME.get(name)
    if module_name is None:
        raise AttributeError(f"module 'authgate' has no attribute {name!r}")
    qualified = f"authgate.{module_name}"
    try:
        module = importlib.import_module(qualified)
    except ModuleNotFoundError as exc:
        if exc.name != qualified:
            raise  # the server is installed but broken (a dependency missing): that error says what is wrong
        raise ModuleNotFoundError(
            f"authgate.{name} is part of the authgate server, which is not installed here (only authgate-client "
            "is): the server needs `pip install authgate` (in its repository: `pip install .`)",
            name=qualified,
        ) from exc
    return getattr(module, name)
