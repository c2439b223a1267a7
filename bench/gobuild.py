"""Build the Gin reference servers offline, from Debian's Go packages only.

Debian installs Go libraries as GOPATH sources under /usr/share/gocode/src, so the build runs in GOPATH mode
(GO111MODULE=off) with the module proxy switched off: nothing is ever downloaded. One consequence: Debian's
golang-jwt v4 lives at the unversioned path github.com/golang-jwt/jwt, which is what the sources import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

GOPATH = "/usr/share/gocode"
BENCH = Path(__file__).resolve().parent
SOURCES = BENCH / "references" / "gin"
BUILD = BENCH / ".build"

PROGRAMS = {"gin-seed": "seed", "gin-real": "real"}


class BuildFailed(Exception):
    pass


def go_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        GO111MODULE="off", GOPATH=GOPATH, GOPROXY="off", GOFLAGS="", GOTOOLCHAIN="local",
        GOCACHE=str(BUILD / "gocache"), CGO_ENABLED="0",
    )
    return env


def _stale(binary: Path, package: Path) -> bool:
    if not binary.exists():
        return True
    built = binary.stat().st_mtime
    return any(src.stat().st_mtime > built for src in package.glob("*.go"))


def build_all() -> dict[str, Path]:
    """The path of each built binary, rebuilding only those whose sources changed."""
    go = shutil.which("go")
    if go is None:
        raise BuildFailed("no `go` on PATH: run bench/setup.sh (installs Debian's golang-go)")
    out = BUILD / "bin"
    out.mkdir(parents=True, exist_ok=True)
    binaries = {}
    for name, directory in PROGRAMS.items():
        binary, package = out / name, SOURCES / directory
        if _stale(binary, package):
            result = subprocess.run(
                [go, "build", "-trimpath", "-o", str(binary), "."],
                cwd=package, env=go_env(), capture_output=True, text=True, check=False,
            )
            if result.returncode != 0:
                raise BuildFailed(f"go build of {package} failed:\n{result.stdout}{result.stderr}")
        binaries[name] = binary
    return binaries


def go_version() -> str:
    result = subprocess.run(["go", "version"], capture_output=True, text=True, check=False, env=go_env())
    return result.stdout.strip()
