"""Debian's nginx as the test's own process, in front of authgate instances, with deploy/authgate-proxy.conf."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from liveserver import free_port

PROXY_CONF = Path(__file__).parents[1] / "deploy" / "authgate-proxy.conf"
PROXY_ADDRESS = "127.0.0.2"
"""nginx connects to the instances from this address (the one trusted proxy); clients come from 127.0.0.1."""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (scripts/test-deps.sh installs it), and CI must test with it")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return found


@contextlib.contextmanager
def nginx(upstreams: list[str], tmp_path: Path) -> Iterator[str]:
    """Start nginx on a free 127.0.0.1 port proxying to `upstreams` (host:port); yields its URL."""
    binary = nginx_binary()
    prefix = tmp_path / "nginx"
    prefix.mkdir(exist_ok=True)
    port = free_port()
    servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=5s;" for u in upstreams)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream authgate {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_bind {PROXY_ADDRESS};
            include {PROXY_CONF};
        }}
    }}
}}
"""
    )
    log = (prefix / "stderr.log").open("wb")
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(prefix / 'error.log').read_text(errors='replace')}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/health/live", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not answer")
            time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
