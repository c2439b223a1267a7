"""Development without a mail server: each mail becomes one log line instead of being sent.

This is the one place where a token may appear in a log, and only when `Settings.mail_links_in_log` says so:
no mail server or folder is configured *and* the issuer is a loopback address (`make run`), so that a
developer can follow the link. Anywhere else the line says that a mail was not sent, without its link or
recipient, and start-up warns that mail is not configured.
"""

from __future__ import annotations

import logging

from authgate.domain.mail import MailMessage

logger = logging.getLogger("authgate.mail")


class ConsoleMailer:
    def __init__(self, *, show_links: bool) -> None:
        self.show_links = show_links

    async def send(self, message: MailMessage) -> None:
        if self.show_links:
            logger.warning(
                "mail not sent (development, no AUTHGATE_SMTP_HOST): %s to %s: %s",
                message.subject,
                message.to,
                message.link or "(no link)",
                extra={"event": "mail_console", "mail": message.template},
            )
        else:
            logger.warning(
                "mail not sent: no mail server is configured (AUTHGATE_SMTP_HOST)",
                extra={"event": "mail_not_sent", "mail": message.template},
            )
