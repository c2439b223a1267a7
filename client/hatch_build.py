"""The build hook of authgate-client: which files of the authgate package go into its sdist and wheel.

The client's code has one copy, in the repository's src/authgate/. A wheel built from the repository takes the
files from there (../src/authgate, outside this project's folder); the sdist carries them as src/authgate/, and a
wheel built from an unpacked sdist takes them from that. The list of files is `package-files` in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.config import BuilderConfig
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ClientFiles(BuildHookInterface[BuilderConfig]):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        package = root / "src" / "authgate"  # an unpacked sdist
        if not package.is_dir():
            package = root.parent / "src" / "authgate"  # the repository
        target = "authgate" if self.target_name == "wheel" else "src/authgate"
        for name in self.config["package-files"]:
            source = package / name
            if not source.exists():
                raise FileNotFoundError(f"authgate-client: {source} is missing")
            build_data["force_include"][str(source)] = f"{target}/{name}"
