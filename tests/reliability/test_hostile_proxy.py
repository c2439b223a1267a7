"""Oversized bodies through the deployment's nginx (deploy/nginx.conf as it ships) in front of `authgate serve`.

authgate answers a body over its limit on the Content-Length alone and closes the connection: Granian does not
linger to read the rest. A client talking to authgate directly may therefore see its 413 or a reset
(tests/reliability/test_hostile_input.py counts both). nginx in front buffers the whole body first and then
sends it on; authgate's close arrives while nginx is still writing, and nginx answered 502 Bad Gateway (and
counted a failure of the instance towards max_fails) instead of passing the 413 on, about half the time for a
body of 1 MB. So nginx refuses what authgate would refuse, itself: the same limits (AUTHGATE_MAX_BODY_BYTES;
2 MiB for POST /users/import), answered as a problem in authgate's shape, with nginx's request id.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authgate.config import Settings
from authgate.http.schemas_imports import IMPORT_MAX_BODY_BYTES
from helpers import PASSWORD, assert_problem
from liveapi import ADMIN, Target, record_figures, serve
from nginxproxy import PROXY_ADDRESS, SITE_CONF, deploy_nginx

pytestmark = pytest.mark.reliability

SIZES = [70_000, 1_000_000, 10_000_000, 20_000_000]


@pytest.fixture(scope="module")
def proxied(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Target, str]]:
    tmp_path = tmp_path_factory.mktemp("proxy")
    with (
        serve(request, tmp_path, "sqlite", env={"AUTHGATE_TRUSTED_PROXIES": PROXY_ADDRESS}) as target,
        deploy_nginx(target.url.removeprefix("http://"), tmp_path) as url,
    ):
        yield target, url
        errors = (tmp_path / "deploy-nginx" / "error.log").read_text()
        assert "while sending request to upstream" not in errors, errors[-3000:]


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, verify=False, timeout=30)  # noqa: S501 (the test's self-signed certificate)


def test_nginx_refuses_what_authgate_would_with_authgate_s_problem(proxied: tuple[Target, str]) -> None:
    _, url = proxied
    answers: Counter[str] = Counter()
    with client(url) as http:
        for size in SIZES:
            for _ in range(5):
                response = http.post("/auth/login", content=b"a" * size, headers={"content-type": "application/json"})
                answers[f"{size} {response.status_code}"] += 1
                problem = assert_problem(response, 413, "payload_too_large")  # not 502
                assert problem["request_id"] and response.headers["cache-control"] == "no-store"
        under = http.post("/auth/login", json={"username": ADMIN, "password": PASSWORD})
        assert under.status_code == 200, under.text
    record_figures("proxy-oversized-bodies", dict(answers))


def test_an_import_may_be_up_to_2_mib_through_nginx(proxied: tuple[Target, str]) -> None:
    target, url = proxied
    record = {"username": "imp", "email": "imp@example.com", "password_hash": "pbkdf2:sha256:1$s$" + "0" * 64}
    body = json.dumps({"users": [record], "pad": "x" * (IMPORT_MAX_BODY_BYTES - 1000)}).encode()
    with client(url) as http:
        headers = {**target.admin, "content-type": "application/json"}
        fits = http.post("/users/import", content=body, headers=headers)
        assert_problem(fits, 422, "validation_failed")  # authgate read it (and refuses the unknown field "pad")
        too_large = http.post("/users/import", content=body + b" " * 2000, headers=headers)
        assert_problem(too_large, 413, "payload_too_large")


def test_the_limits_in_nginx_conf_are_authgate_s() -> None:
    """nginx's limits must be authgate's: larger, and authgate's own 413 comes back as nginx's 502."""
    site = SITE_CONF.read_text()
    assert f"client_max_body_size {Settings().max_body_bytes // 1024}k;" in site
    assert f"client_max_body_size {IMPORT_MAX_BODY_BYTES // (1024 * 1024)}m;" in site
    assert Path(SITE_CONF).read_text().count("client_max_body_size") == 2
