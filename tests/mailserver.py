"""A real SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) that keeps what it receives, for the email tests.

with mail_server() as smtp:                       # plain SMTP
with mail_server(tls=certificate, users={"u": "p"}) as smtp:   # STARTTLS required, then AUTH required
    settings = make_settings(url, **smtp.settings())
    ...
    message = await smtp.wait_for_mail(to="alice@example.com")
    token = link_token(message)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email
import email.policy
import ipaddress
import re
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from authgate.config import Settings
from helpers import make_settings
from liveserver import free_port

LINK = re.compile(r"(https?://[^\s\"<>]+)\?token=([A-Za-z0-9_-]+)")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str | None:
        body = self.message.get_body(preferencelist=(subtype,))
        return None if body is None else str(body.get_content())  # type: ignore[attr-defined]

    @property
    def text(self) -> str:
        return self.part("plain") or ""


def link_of(received: Received) -> tuple[str, str]:
    """(the page URL, the token) of the link in the text part."""
    match = LINK.search(received.text)
    assert match, f"no link in: {received.text!r}"
    return match[1], match[2]


def link_token(received: Received) -> str:
    return link_of(received)[1]


@dataclass
class Collector:
    received: list[Received] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)
    """SMTP answers to give to the next DATA commands instead of accepting them (e.g. "451 4.3.0 later")."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # the name aiosmtpd calls
        with self.lock:
            if self.refuse:
                return self.refuse.pop(0)
            content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
            message = email.message_from_bytes(content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            auth = session.auth_data
            login = auth.login.decode() if isinstance(auth, LoginPassword) else None
            self.received.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=message,
                    tls=session.ssl is not None,
                    login=login,
                )
            )
        return "250 2.0.0 OK"


class MailServer:
    def __init__(self, controller: Controller, collector: Collector, port: int, ca_file: Path | None) -> None:
        self.controller = controller
        self.collector = collector
        self.port = port
        self.ca_file = ca_file

    @property
    def received(self) -> list[Received]:
        with self.collector.lock:
            return list(self.collector.received)

    def to(self, address: str | None, subject: str | None = None) -> list[Received]:
        """What was received for `address` (anyone: None) with `subject` (any: None), in order of arrival."""
        return [
            r
            for r in self.received
            if (address is None or address.casefold() in (t.casefold() for t in r.rcpt_tos))
            and subject in (None, r.subject)
        ]

    def refuse_next(self, *answers: str) -> None:
        with self.collector.lock:
            self.collector.refuse.extend(answers)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings that point authgate's SMTP mailer at this server."""
        values: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_starttls": self.ca_file is not None,
            "smtp_timeout": 5,
            "mail_from": "authgate <no-reply@authgate.test>",
        }
        if self.ca_file is not None:
            values["smtp_ca_file"] = str(self.ca_file)
        values.update(overrides)
        return values

    def env(self, **overrides: Any) -> dict[str, str]:
        """The same, as AUTHGATE_* environment variables (for `authgate serve`)."""
        return {
            f"AUTHGATE_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in self.settings(**overrides).items()
        }

    async def wait_for_mail(
        self, to: str | None = None, count: int = 1, timeout: float = 10.0, subject: str | None = None
    ) -> Received:
        """The `count`-th message (to `to`, with `subject`, when given), waiting for it to arrive. Mails of
        different jobs may arrive in any order (the outbox has two workers): tell them apart by `subject`."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.to(to, subject)
            if len(got) >= count:
                return got[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail #{count} to {to or 'anyone'} in {timeout} s (got {len(got)})")
            await asyncio.sleep(0.02)


VERIFY = "Verify your email address"
RESET = "Reset your password"
CONFIRM = "Confirm your new email address"
CHANGED = "Your email address was changed"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authgate test SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextlib.contextmanager
def mail_server(tls: tuple[Path, Path] | None = None, users: dict[str, str] | None = None) -> Iterator[MailServer]:
    """Plain SMTP; or with `tls` (cert, key): STARTTLS required, and with `users` AUTH required after it."""
    collector = Collector()
    kwargs: dict[str, Any] = {}
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        kwargs.update(tls_context=context, require_starttls=True)
    if users is not None:
        assert tls is not None, "AUTH only over TLS"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and users.get(data.login.decode()) == data.password.decode()
            return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

        kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=True)
    for _ in range(5):
        port = free_port()
        controller = Controller(collector, hostname="127.0.0.1", port=port, **kwargs)
        try:
            controller.start()
        except (OSError, RuntimeError):  # the port was taken in between: another one
            continue
        break
    else:
        raise RuntimeError("could not start the SMTP server")
    try:
        yield MailServer(controller, collector, port, tls[0] if tls is not None else None)
    finally:
        controller.stop()


# Fixtures for the email tests: import `smtp_fixture` and `settings_fixture` from here into a test module (with
# ruff's F401 silenced on that import) to run its app (tests/conftest.py) with the SMTP mailer pointed at `smtp`.


@pytest.fixture(name="smtp")
def smtp_fixture() -> Iterator[MailServer]:
    with mail_server() as server:
        yield server


@pytest.fixture(name="settings")
def settings_fixture(database_url: str, smtp: MailServer) -> Settings:
    return make_settings(database_url, **smtp.settings())
