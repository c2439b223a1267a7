"""Outgoing mail (see `authgate.domain.mail` for the seams): which mailer the settings ask for, the outbox that
sends in the background, and the templates.

    AUTHGATE_SMTP_HOST set    → SmtpMailer (smtp.py)
    AUTHGATE_MAIL_DIR set     → FileMailer (files.py): .eml files in a folder
    neither                   → ConsoleMailer (console.py): a log line; the link only in development
"""

from __future__ import annotations

import logging

from authgate.config import Settings
from authgate.domain.mail import Mailer
from authgate.mail.console import ConsoleMailer
from authgate.mail.outbox import MailOutbox, OutboxStats
from authgate.mail.templates import JinjaMailTemplates, TemplateError

logger = logging.getLogger("authgate.mail")

__all__ = ["JinjaMailTemplates", "MailOutbox", "OutboxStats", "TemplateError", "build_mailer", "start_outbox"]


def build_mailer(settings: Settings) -> Mailer:
    # The SMTP and file mailers are imported only when chosen: with them come smtplib and the email package's
    # MIME classes, which a worker that only logs its mails does without (about 7 ms of start-up on a slow host).
    if settings.smtp_host is not None:
        from authgate.mail.smtp import SmtpMailer

        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            implicit_tls=settings.smtp_ssl,
            ca_file=settings.smtp_ca_file,
            timeout=settings.smtp_timeout,
        )
    if settings.mail_dir is not None:
        from authgate.mail.files import FileMailer

        return FileMailer(settings.mail_dir, sender=settings.mail_from)
    if settings.mail_links_in_log:
        logger.warning(
            "AUTHGATE_SMTP_HOST is not set: mails are not sent but written to this log, links included"
            " (development only: the issuer is a loopback address)",
            extra={"event": "mail_config"},
        )
    else:
        logger.error(
            "AUTHGATE_SMTP_HOST is not set: no mail is sent (verification, password reset, email change)",
            extra={"event": "mail_config"},
        )
    return ConsoleMailer(show_links=settings.mail_links_in_log)


def start_outbox(settings: Settings, mailer: Mailer | None = None) -> MailOutbox:
    """The outbox of this worker process, its workers started (call from the running event loop)."""
    outbox = MailOutbox(
        mailer if mailer is not None else build_mailer(settings),
        queue_size=settings.mail_queue_size,
        attempts=settings.mail_send_attempts,
    )
    outbox.start()
    return outbox
