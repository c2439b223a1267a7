"""The authgate-client distribution (client/pyproject.toml), for real: its wheel is built from the repository,
installed alone into a fresh virtual environment with its dependencies from the package index, and used there to
verify tokens that a live authgate issued."""

from __future__ import annotations

import email.parser
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import authgate
from liveserver import authgate as authgate_command
from liveserver import live_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "src" / "authgate"
SERVER_PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CLIENT_PROJECT = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]
PASSWORD = "a-long-and-unusual-passphrase"
# The server's packages (hiredis comes with redis[hiredis]); _server_only_packages() adds whatever else
# pyproject.toml lists for the server.
SERVER_PACKAGES = {
    "granian",
    "asyncpg",
    "argon2-cffi",
    "redis",
    "hiredis",
    "jinja2",
    "prometheus-client",
    "opentelemetry-sdk",
    "uvloop",
    "bcrypt",
    "limits",
    "rich",
    "email-validator",
}


def _name(requirement: str) -> str:
    """The normalised project name of a requirement (PEP 503)."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def _server_only_packages() -> set[str]:
    client = {_name(r) for r in SERVER_PROJECT["optional-dependencies"]["client"]}
    return SERVER_PACKAGES | ({_name(r) for r in SERVER_PROJECT["dependencies"]} - client)


def _clean_env() -> dict[str, str]:
    """The environment minus what would let the fresh venv see this repository's or this venv's packages."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(*args: str | Path, cwd: Path, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_clean_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("client-wheel")
    # The way a person builds it (`make dist` does the same): an isolated build with the backend that
    # client/pyproject.toml asks for, from the package index.
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", out, ROOT / "client", cwd=out)
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("client-venv")
    _run(sys.executable, "-m", "venv", venv, cwd=venv)  # no system site packages
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, cwd=venv)
    return python


def _contents(archive_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive_path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if not n.endswith("/RECORD")}


def test_the_sdist_holds_the_same_files_and_builds_the_same_wheel(
    wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`python -m build ./client` builds the sdist, then the wheel from the unpacked sdist (client/hatch_build.py
    finds the files there instead of in ../src)."""
    out = tmp_path_factory.mktemp("client-sdist")
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT / "client", cwd=out)
    (sdist,) = out.glob("*.tar.gz")
    (from_sdist,) = out.glob("*.whl")
    top = f"authgate_client-{authgate.__version__}"
    with tarfile.open(sdist) as archive:
        names = {m.name for m in archive.getmembers() if m.isfile()}
    packaged = {n.removeprefix(f"{top}/src/") for n in names if n.startswith(f"{top}/src/")}
    assert packaged == {n for n in _contents(wheel) if not n.startswith(f"{top}.dist-info/")}
    # Besides the package: the project's own files, and the repository's .gitignore (hatchling ships the ignore
    # file whose exclusions it applied).
    assert names - {f"{top}/src/{n}" for n in packaged} == {
        f"{top}/{n}" for n in ("PKG-INFO", "README.md", "pyproject.toml", "hatch_build.py", ".gitignore")
    }
    assert _contents(from_sdist) == _contents(wheel)


def test_the_wheel_holds_the_client_only_with_its_metadata(wheel: Path) -> None:
    dist_info = f"authgate_client-{authgate.__version__}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
    client_files = {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in (PACKAGE / "client").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    packaged = {n: data for n, data in _contents(wheel).items() if not n.startswith(f"{dist_info}/")}
    assert set(packaged) == {"authgate/__init__.py", "authgate/py.typed", *client_files}
    for name, data in packaged.items():  # the repository's one copy, byte for byte
        assert data == (PACKAGE.parent / name).read_bytes(), name
    assert metadata["Name"] == "authgate-client"
    assert metadata["Version"] == authgate.__version__
    assert metadata["Requires-Python"] == SERVER_PROJECT["requires-python"]
    # The server's `client` extra and the client distribution list the same ranges.
    assert sorted(metadata.get_all("Requires-Dist")) == sorted(SERVER_PROJECT["optional-dependencies"]["client"])
    assert sorted(CLIENT_PROJECT["dependencies"]) == sorted(SERVER_PROJECT["optional-dependencies"]["client"])


VERIFY = """
import asyncio, json, sys
import authgate
from authgate.client import InvalidToken, TokenVerifier

url, token = json.loads(sys.stdin.read())
with TokenVerifier(url) as verifier:
    claims = verifier.verify(token)
    again = asyncio.run(verifier.averify(token))
with TokenVerifier(url, audience="billing") as verifier:
    try:
        verifier.verify(token)
        refused = None
    except InvalidToken as exc:
        refused = [type(exc).__name__, exc.code, str(exc)]
try:
    from authgate import create_app
    server = None
except ImportError as exc:
    server = [type(exc).__name__, str(exc)]
print(json.dumps({
    "file": authgate.__file__, "version": authgate.__version__,
    "sub": claims.sub, "username": claims.username, "roles": list(claims.roles), "same": again == claims,
    "refused": refused, "server": server, "modules": sorted(sys.modules),
}))
"""


@pytest.fixture(scope="module")
def live_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(issuer URL, an access token of alice, alice's user id) from a live authgate."""
    tmp = tmp_path_factory.mktemp("client-dist-authgate")
    env = {"AUTHGATE_DATABASE_URL": f"sqlite:///{tmp / 'authgate.db'}", "AUTHGATE_REJECT_COMMON_PASSWORDS": "false"}
    created = authgate_command(
        "create-user", "alice", "--email", "alice@example.com", "--password-stdin", env=env, stdin=PASSWORD
    )
    assert created.returncode == 0, created.stderr
    with live_server(env, tmp) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        login = http.post("/auth/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        me = http.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
        yield server.url, token, me["id"]


def test_installed_alone_it_verifies_a_live_authgate_token(venv_python: Path, live_token: tuple[str, str, str]) -> None:
    venv = venv_python.parents[1]
    listed = _run(venv_python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check", cwd=venv)
    installed = {_name(p["name"]) for p in json.loads(listed)}
    assert installed & _server_only_packages() == set()
    assert "authgate" not in installed
    assert {"authgate-client", "cryptography", "msgspec", "httpx"} <= installed

    url, token, user_id = live_token
    # -I: isolated (no PYTHON* variables, no user site, not the current folder): only the venv's own packages.
    seen = json.loads(_run(venv_python, "-I", "-c", VERIFY, cwd=venv, stdin=json.dumps([url, token])))
    assert Path(seen["file"]).is_relative_to(venv)
    assert seen["version"] == authgate.__version__
    assert (seen["sub"], seen["username"], seen["roles"], seen["same"]) == (user_id, "alice", ["user"], True)
    assert seen["refused"][:2] == ["InvalidToken", "invalid_token"]
    name, message = seen["server"]
    assert name == "ModuleNotFoundError"
    assert "authgate.create_app is part of the authgate server" in message
    assert "pip install authgate`" in message
    server_modules = {m for m in seen["modules"] if m.startswith("authgate.") and not m.startswith("authgate.client")}
    assert server_modules == set()
