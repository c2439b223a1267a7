"""The real server against its own OpenAPI document, with schemathesis: no 5xx, no response off the schema.

`authgate serve` runs in a subprocess (one worker, SQLite in a temporary directory, a fast hash); an admin is
created with the CLI, and schemathesis exercises every operation with that admin's token, a bounded number of
examples each (positive and negative data; about 15 s). Logging out would end the token the run uses, so the
operations that end sessions (the admin's own, through `POST /users/{user_id}/logout`, too: schemathesis finds
the admin's id) run in a second pass in which every request signs in anew (schemathesis_hooks.py). Between
them the two passes test every operation of the document, each with a token that works: schemathesis warns of
an operation that only ever got 401, and only the login itself may (it cannot guess a password).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from liveserver import authgate, live_server

PASSWORD = "schemathesis-admin-passphrase"
ENDS_SESSIONS = ("logout", "logout_all", "end_session", "change_password", "logout_user")
# positive_data_acceptance is left out: the schema states the shape of a body, not every rule of the domain
# (a common password, an address that does not exist), so schema-valid data may rightly get a 422.
CHECKS = "all"
EXCLUDED_CHECKS = "positive_data_acceptance"


def _token(url: str) -> str:
    response = httpx.post(f"{url}/auth/login", json={"username": "root", "password": PASSWORD}, timeout=10)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _schemathesis(url: str, token: str | None, tmp_path: Path, *filters: str) -> subprocess.CompletedProcess[str]:
    """Run schemathesis with `token` on every request, or (None) with a fresh token per request."""
    env = {**os.environ}
    auth = ["--header", f"Authorization: Bearer {token}"] if token else []
    if token is None:
        hooks = Path(__file__).parent
        env |= {"SCHEMATHESIS_HOOKS": "schemathesis_hooks", "AUTHGATE_SCHEMATHESIS_URL": url}
        env |= {
            "AUTHGATE_SCHEMATHESIS_PASSWORD": PASSWORD,
            "PYTHONPATH": f"{hooks}{os.pathsep}{env.get('PYTHONPATH', '')}",
        }
    # From a file, not from the URL: schemathesis leaves out the operation that serves the schema it loaded.
    document = tmp_path / "openapi.json"
    if not document.exists():
        document.write_bytes(httpx.get(f"{url}/openapi.json").content)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(document),
        "--url",
        url,
        *auth,
        "--checks",
        CHECKS,
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        os.environ.get("AUTHGATE_SCHEMATHESIS_EXAMPLES", "100"),
        "--seed",
        "20260101",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
        *filters,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False, env=env)


def test_the_server_keeps_its_openapi_contract(tmp_path: Path) -> None:
    env = {"AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path}/authgate.db", "AUTHGATE_LOG_LEVEL": "warning"}
    env |= {"AUTHGATE_PASSWORD_HASH_MEMORY_KIB": "64", "AUTHGATE_PASSWORD_HASH_TIME_COST": "1"}
    env["AUTHGATE_ACCESS_LOG"] = "false"
    created = authgate(
        "create-user",
        "root",
        "--email",
        "root@example.com",
        "--admin",
        "--password-stdin",
        env=env,
        stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    with live_server(env, tmp_path) as server:
        exclude = [arg for op in ENDS_SESSIONS for arg in ("--exclude-operation-id", op)]
        main = _schemathesis(server.url, _token(server.url), tmp_path, *exclude)
        include = [arg for op in ENDS_SESSIONS for arg in ("--include-operation-id", op)]
        ending = _schemathesis(server.url, None, tmp_path, *include)
        operations = sum(len(ops) for ops in httpx.get(server.url + "/openapi.json").json()["paths"].values())
        log = server.output()
    for run in (main, ending):
        assert run.returncode == 0, f"{run.stdout[-20000:]}\n{run.stderr[-5000:]}"
        assert "passed" in run.stdout
    tested = [int(n) for run in (main, ending) for n in re.findall(r"^\s*Tested: (\d+)$", run.stdout, re.M)]
    assert sum(tested) == operations, tested
    # Made-up credentials and made-up `mfa_token`s are rightly refused, whatever the bearer token sent with them.
    assert _only_401(main.stdout) == ["POST /auth/login", "POST /auth/login/mfa"], main.stdout[-5000:]
    assert _only_401(ending.stdout) == [], ending.stdout[-5000:]
    assert "Traceback" not in log and "unhandled error" not in log, log[-5000:]


def _only_401(output: str) -> list[str]:
    """The operations schemathesis warns "returned only 401/403 responses" (never signed in)."""
    block = re.search(r"^401 Unauthorized \(\d+ operations?\):\n((?:  - .*\n)+)", output, re.M)
    return [line.removeprefix("  - ") for line in block[1].splitlines()] if block else []
