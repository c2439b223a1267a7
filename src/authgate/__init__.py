"""authgate: a user-authentication and user-management service.

The public API of the package is small: the app factory, the settings and the version. They are imported
lazily, so that `import authgate.client` (for the services behind the login) pulls in none of the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["App", "ConfigError", "Settings", "__version__", "create_app", "load_settings"]

if TYPE_CHECKING:
    from authgate.app import App, create_app
    from authgate.config import ConfigError, Settings, load_settings


def __getattr__(name: str) -> Any:
    if name in ("App", "create_app"):
        from authgate import app

        return getattr(app, name)
    if name in ("ConfigError", "Settings", "load_settings"):
        from authgate import config

        return getattr(config, name)
    raise AttributeError(f"module 'authgate' has no attribute {name!r}")
