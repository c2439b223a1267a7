"""Debian's nginx as the test's own process, in front of authgate instances: with deploy/authgate-proxy.conf
(`nginx`), or with the whole site config deploy/nginx.conf as it ships (`deploy_nginx`)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from liveserver import free_port

PROXY_CONF = Path(__file__).parents[1] / "deploy" / "authgate-proxy.conf"
SITE_CONF = Path(__file__).parents[1] / "deploy" / "nginx.conf"
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


def self_signed(key_path: Path, cert_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auth.example.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def deploy_site(tmp_path: Path, *, upstream: str | None = None, port: int | None = None) -> str:
    """deploy/nginx.conf as it ships, with a self-signed certificate, and its logs and proxy include under
    `tmp_path`; with `port`, the TLS server listens on 127.0.0.1:port (and plain HTTP on another free port)
    instead of 443 and 80, and proxies to `upstream` (host:port)."""
    key, cert = tmp_path / "privkey.pem", tmp_path / "fullchain.pem"
    if not key.exists():
        self_signed(key, cert)
    site = SITE_CONF.read_text()
    site = site.replace("/etc/letsencrypt/live/auth.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/auth.example.com/privkey.pem", str(key))
    site = site.replace("/etc/nginx/authgate-proxy.conf", str(PROXY_CONF))
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    if port is not None:
        site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
        site = site.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
        site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl;")
        site = site.replace("server 127.0.0.1:8080 ", f"server {upstream} ")
    return site


def deploy_main_conf(tmp_path: Path, site: str, temp: Path | None = None) -> Path:
    """A main nginx.conf that includes `site` as /etc/nginx/conf.d does; `temp`: where nginx's workers keep
    request bodies (they run as nobody, and cannot reach the test's private tmp_path)."""
    (tmp_path / "authgate.conf").write_text(site)
    main = tmp_path / "nginx.conf"
    temp = temp or tmp_path
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log info;\nevents {{}}\n"
        f"http {{\n    access_log {tmp_path}/access.log;\n"
        f"    client_body_temp_path {temp}/client_body;\n    proxy_temp_path {temp}/proxy;\n"
        f"    include {tmp_path}/authgate.conf;\n}}\n"
    )
    return main


@contextlib.contextmanager
def deploy_nginx(upstream: str, tmp_path: Path) -> Iterator[str]:
    """deploy/nginx.conf running in front of `upstream` (host:port); yields its https:// URL."""
    binary = nginx_binary()
    prefix = tmp_path / "deploy-nginx"
    prefix.mkdir(exist_ok=True)
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="authgate-nginx-"))  # outside tmp_path, which nobody cannot reach
    temp.chmod(0o777)  # nginx's workers, as nobody, write request bodies there; removed after
    main = deploy_main_conf(prefix, deploy_site(prefix, upstream=upstream, port=port), temp)
    log = (prefix / "stderr.log").open("wb")
    process = subprocess.Popen(
        [binary, "-g", "daemon off;", "-p", str(prefix), "-c", str(main), "-e", str(prefix / "error.log")],
        stdout=log,
        stderr=log,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(prefix / 'error.log').read_text(errors='replace')}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/health/live", timeout=1, verify=False).status_code == 200:  # noqa: S501
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not answer")
            time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
