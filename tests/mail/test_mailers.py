"""The mailers and the outbox, on their own: SMTP over a real server on 127.0.0.1 (plain; STARTTLS with a
verified certificate and AUTH), the refusals, retries with back-off, the console and file mailers, and the
templates (autoescape, override folder)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import gc
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from authgate.config import ConfigError, load_settings
from authgate.domain.mail import MailError, MailMessage, PermanentMailError
from authgate.mail import JinjaMailTemplates, MailOutbox, TemplateError, build_mailer
from authgate.mail.console import ConsoleMailer
from authgate.mail.files import FileMailer
from authgate.mail.mime import to_mime
from authgate.mail.smtp import SmtpMailer
from liveserver import free_port
from mailserver import mail_server, make_certificate

SECRET_LINK = "http://127.0.0.1:8080/reset-password?token=SECRET-TOKEN-1234567890"


def message(to: str = "alice@example.com", link: str | None = SECRET_LINK) -> MailMessage:
    return MailMessage(
        to=to,
        subject="Reset your password",
        text=f"Open {link}\n",
        html=f'<p><a href="{link}">Reset</a></p>',
        template="reset_password",
        link=link,
    )


def smtp_mailer(port: int) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", port, sender="authgate <no-reply@authgate.test>", starttls=False, timeout=5)


async def test_smtp_delivers_text_and_html() -> None:
    with mail_server() as server:
        await smtp_mailer(server.port).send(message())
        got = server.received[0]
    assert got.mail_from == "no-reply@authgate.test" and got.rcpt_tos == ["alice@example.com"]
    assert got.subject == "Reset your password" and not got.tls
    assert SECRET_LINK in got.text and f'href="{SECRET_LINK}"' in (got.part("html") or "")
    assert got.message["From"] == "authgate <no-reply@authgate.test>"
    assert got.message["Message-ID"].endswith("@authgate.test>")


async def test_smtp_with_starttls_and_auth(tmp_path: Path) -> None:
    cert = make_certificate(tmp_path)
    with mail_server(tls=cert, users={"authgate": "s3cret-pass"}) as server:
        mailer = SmtpMailer(
            "127.0.0.1",
            server.port,
            sender="no-reply@authgate.test",
            username="authgate",
            password="s3cret-pass",
            starttls=True,
            ca_file=str(cert[0]),
            timeout=5,
        )
        await mailer.send(message())
        got = server.received[0]
        assert got.tls and got.login == "authgate"
        wrong = SmtpMailer(
            "127.0.0.1",
            server.port,
            sender="no-reply@authgate.test",
            username="authgate",
            password="wrong",
            starttls=True,
            ca_file=str(cert[0]),
            timeout=5,
        )
        with pytest.raises(PermanentMailError, match="535"):
            await wrong.send(message())
        untrusted = SmtpMailer("127.0.0.1", server.port, sender="no-reply@authgate.test", starttls=True, timeout=5)
        with pytest.raises(MailError, match="TLS"):  # the certificate is verified: not the system's CAs
            await untrusted.send(message())
        plain = smtp_mailer(server.port)
        with pytest.raises(PermanentMailError):  # the server requires STARTTLS
            await plain.send(message())
        assert len(server.received) == 1


async def test_starttls_is_never_skipped() -> None:
    """A server that does not offer STARTTLS gets nothing, rather than the mail in the clear."""
    with mail_server() as server:
        mailer = SmtpMailer("127.0.0.1", server.port, sender="no-reply@authgate.test", starttls=True, timeout=5)
        with pytest.raises(PermanentMailError, match="STARTTLS"):
            await mailer.send(message())
        assert server.received == []


async def test_smtp_refusals_and_unreachable_server() -> None:
    with mail_server() as server:
        server.refuse_next("451 4.3.0 try again later", "554 5.7.1 rejected")
        mailer = smtp_mailer(server.port)
        with pytest.raises(MailError) as temporary:
            await mailer.send(message())
        assert not isinstance(temporary.value, PermanentMailError) and "451" in str(temporary.value)
        with pytest.raises(PermanentMailError, match="554"):
            await mailer.send(message())
    with pytest.raises(MailError, match="cannot reach"):
        await smtp_mailer(free_port()).send(message())


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        to_mime(MailMessage(to="alice@example.com\r\nBcc: eve@example.com", subject="x", text="x"), "a@b.test")


class FlakyMailer:
    def __init__(self, failures: Sequence[Exception]) -> None:
        self.failures = list(failures)
        self.sent: list[MailMessage] = []

    async def send(self, message: MailMessage) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)


async def jobs(*messages: MailMessage) -> Sequence[MailMessage]:
    return list(messages)


async def test_outbox_retries_with_back_off_then_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    mailer = FlakyMailer([MailError("the mail server answered 451"), OSError("connection reset")])
    outbox = MailOutbox(mailer, attempts=3, first_wait=0.01)
    outbox.start()
    assert outbox.submit(lambda: jobs(message()), "reset_password")
    await outbox.idle()
    assert len(mailer.sent) == 1 and outbox.stats.sent == 1 and outbox.stats.retried == 2
    given_up = FlakyMailer([MailError("451")] * 3)
    outbox.mailer = given_up
    outbox.submit(lambda: jobs(message()), "reset_password")
    await outbox.idle()
    assert given_up.sent == [] and outbox.stats.failed == 1
    permanent = FlakyMailer([PermanentMailError("the mail server answered 550")])
    outbox.mailer = permanent
    outbox.submit(lambda: jobs(message()), "reset_password")
    await outbox.idle()
    assert permanent.failures == [] and permanent.sent == [] and outbox.stats.failed == 2  # not retried
    await outbox.close()
    failures = [r for r in caplog.records if getattr(r, "event", "") == "mail_failed"]
    assert len(failures) == 2 and all(getattr(r, "mail", "") == "reset_password" for r in failures)
    assert "SECRET-TOKEN" not in caplog.text and "alice@example.com" not in caplog.text


async def test_a_failing_job_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    outbox = MailOutbox(FlakyMailer([]), attempts=1)
    outbox.start()

    async def broken() -> Sequence[MailMessage]:
        raise RuntimeError("database gone")

    outbox.submit(broken, "verify_email")
    outbox.submit(lambda: jobs(message()), "reset_password")  # the worker goes on
    await outbox.idle()
    await outbox.close()
    assert outbox.stats.job_errors == 1 and outbox.stats.sent == 1
    assert any(getattr(r, "event", "") == "mail_job_failed" for r in caplog.records)


async def test_a_full_outbox_drops_and_counts() -> None:
    gate = asyncio.Event()

    async def slow() -> Sequence[MailMessage]:
        await gate.wait()
        return []

    outbox = MailOutbox(FlakyMailer([]), queue_size=1, workers=1)
    outbox.start()
    assert outbox.submit(slow, "verify_email")
    await asyncio.sleep(0.01)  # the worker took it: the queue is empty again
    assert outbox.submit(slow, "verify_email")
    assert not outbox.submit(slow, "verify_email")
    assert outbox.stats.dropped == 1 and outbox.stats.queued == 2
    gate.set()
    await outbox.close()
    assert not outbox.submit(slow, "verify_email")  # closed
    assert outbox.stats.dropped == 2


async def test_close_gives_up_on_a_stuck_queue() -> None:
    async def stuck() -> Sequence[MailMessage]:
        await asyncio.sleep(60)
        return []

    outbox = MailOutbox(FlakyMailer([]), workers=1)
    outbox.start()
    outbox.submit(stuck, "verify_email")
    outbox.submit(stuck, "verify_email")
    await asyncio.wait_for(outbox.close(timeout=0.05), 5)


async def test_console_mailer_shows_the_link_only_in_development(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "authgate.mail")
    dev = load_settings({})
    assert dev.mail_links_in_log  # issuer http://127.0.0.1:8080, no SMTP
    mailer = build_mailer(dev)
    assert isinstance(mailer, ConsoleMailer)
    await mailer.send(message())
    assert SECRET_LINK in caplog.text and len([r for r in caplog.records if r.getMessage().find(SECRET_LINK) >= 0]) == 1
    caplog.clear()
    for settings in (
        load_settings({}, issuer="https://auth.example.com"),
        load_settings({}, issuer="http://10.0.0.5:8080"),
    ):
        assert not settings.mail_links_in_log
        await build_mailer(settings).send(message())
    assert "SECRET-TOKEN" not in caplog.text and "alice@example.com" not in caplog.text
    assert [getattr(r, "event", "") for r in caplog.records].count("mail_not_sent") == 2
    with_smtp = load_settings({}, smtp_host="127.0.0.1", smtp_starttls=False)
    assert not with_smtp.mail_links_in_log and isinstance(build_mailer(with_smtp), SmtpMailer)


async def test_file_mailer_writes_eml_files(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    settings = load_settings({}, mail_dir=str(folder))
    mailer = build_mailer(settings)
    assert isinstance(mailer, FileMailer) and not settings.mail_links_in_log
    await mailer.send(message())
    files = list(folder.iterdir())
    assert len(files) == 1 and files[0].suffix == ".eml" and files[0].stat().st_mode & 0o077 == 0
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "alice@example.com" and parsed["Subject"] == "Reset your password"


def test_templates_render_subject_text_and_escaped_html() -> None:
    templates = JinjaMailTemplates()
    templates.check()
    context = {
        "username": "alice",
        "site": "auth.example.com",
        "base_url": "https://auth.example.com",
        "link": "https://auth.example.com/confirm-email-change?token=abc",
        "expires_in": "24 hours",
        "new_email": "<b>new</b>@example.com",
    }
    mail = templates.render("confirm_email_change", "new@example.com", context, link=str(context["link"]))
    assert mail.subject == "Confirm your new email address" and mail.template == "confirm_email_change"
    assert mail.text.startswith("Hello alice,") and "<b>new</b>@example.com" in mail.text  # text: as is
    assert mail.html is not None and "&lt;b&gt;new&lt;/b&gt;@example.com" in mail.html and "<b>new" not in mail.html
    assert "24 hours" in mail.text and context["link"] in mail.html


def test_an_override_folder_replaces_templates(tmp_path: Path) -> None:
    (tmp_path / "reset_password.txt").write_text(
        '{% set subject = "Passwort zurücksetzen" %}Hallo {{ username }}: {{ link }}\n'
    )
    templates = JinjaMailTemplates(tmp_path)
    templates.check()
    mail = templates.render(
        "reset_password",
        "a@example.com",
        {"username": "alice", "link": "L", "expires_in": "", "site": "", "base_url": ""},
    )
    assert mail.subject == "Passwort zurücksetzen" and mail.text == "Hallo alice: L\n"
    assert mail.html is not None and "Choose a new password" in mail.html  # the built-in HTML still applies
    (tmp_path / "base.html").write_text("<html>{% block content %}{% endblock %}<footer>ACME</footer></html>")
    html = (
        JinjaMailTemplates(tmp_path)
        .render(
            "verify_email",
            "a@example.com",
            {"username": "a", "link": "L", "expires_in": "1 hour", "site": "s", "base_url": "b"},
        )
        .html
    )
    assert html is not None and "ACME" in html


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("verify_email.txt", "no subject here {{ link }}", "set the subject"),
        ("verify_email.txt", '{% set subject = "x" %}{{ unknown_variable }}', "unknown_variable"),
        ("reset_password.html", "{% if %}", "reset_password.html"),
    ],
)
def test_a_broken_override_stops_the_start(tmp_path: Path, name: str, content: str, error: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(TemplateError, match=error):
        JinjaMailTemplates(tmp_path).check()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"smtp_host": "mail.example.com", "smtp_username": "u"}, "set both or neither"),
        (
            {"smtp_host": "mail.example.com", "smtp_username": "u", "smtp_password": "p", "smtp_starttls": False},
            "in the clear",
        ),
        ({"smtp_host": "mail.example.com", "mail_dir": "outbox"}, "choose one"),
        ({"mail_from": "not an address"}, "AUTHGATE_MAIL_FROM"),
        ({"mail_from": "a@b.test\r\nBcc: eve@example.com"}, "AUTHGATE_MAIL_FROM"),
        ({"mail_templates_dir": "/nonexistent/folder"}, "not a folder"),
        ({"smtp_ca_file": "/nonexistent/ca.pem"}, "no such file"),
        ({"smtp_port": 0}, "AUTHGATE_SMTP_PORT"),
        ({"password_reset_ttl": 0}, "AUTHGATE_PASSWORD_RESET_TTL"),
        ({"mail_send_attempts": 0}, "AUTHGATE_MAIL_SEND_ATTEMPTS"),
    ],
)
def test_mail_settings_are_validated(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({}, **values)


def test_mail_settings_from_the_environment() -> None:
    settings = load_settings(
        {
            "AUTHGATE_SMTP_HOST": "127.0.0.1",
            "AUTHGATE_SMTP_PORT": "2525",
            "AUTHGATE_SMTP_USERNAME": "u",
            "AUTHGATE_SMTP_PASSWORD": "p",  # loopback: allowed without TLS
            "AUTHGATE_SMTP_STARTTLS": "false",
            "AUTHGATE_REQUIRE_VERIFIED_EMAIL": "true",
            "AUTHGATE_PASSWORD_RESET_TTL": "600",
        }
    )
    assert settings.smtp_port == 2525 and settings.smtp_starttls is False and settings.require_verified_email
    assert settings.password_reset_ttl == 600 and settings.email_verification_ttl == 86400


def test_a_message_leaves_nothing_for_the_cyclic_collector() -> None:
    """The stock header registry made a class per header of every message, each a reference cycle (mime.py)."""
    mail = MailMessage(to="alice@example.com", subject="Verify", text="Hello", html="<p>Hello</p>")
    to_mime(mail, "authgate <no-reply@example.com>").as_bytes()  # each header's class is made once, here
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            to_mime(mail, "authgate <no-reply@example.com>").as_bytes()
        assert gc.collect() == 0
    finally:
        gc.enable()
