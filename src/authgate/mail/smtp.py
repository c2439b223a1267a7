"""Sending through an SMTP server: STARTTLS (or implicit TLS) with the server's certificate verified, and AUTH.

The standard library's `smtplib`, run in a thread, rather than an async client: it adds no dependency to the
security path, it is the most exercised SMTP client in Python, and sending happens in the outbox's background
workers, never on a request, so a thread per send (bounded by the timeout) costs nothing that matters.
A permanent refusal (5xx: unknown recipient, message rejected, bad credentials) is not retried.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from authgate.domain.mail import MailError, MailMessage, PermanentMailError
from authgate.mail.mime import to_mime


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        implicit_tls: bool = False,
        ca_file: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self._credentials = (username, password) if username is not None and password is not None else None
        self.starttls = starttls and not implicit_tls
        self.implicit_tls = implicit_tls
        self.timeout = timeout
        self._tls = ssl.create_default_context(cafile=ca_file) if (starttls or implicit_tls) else None

    async def send(self, message: MailMessage) -> None:
        mime = to_mime(message, self.sender)
        try:
            await asyncio.wait_for(asyncio.to_thread(self._send, mime), self.timeout * 3)
        except smtplib.SMTPResponseException as exc:
            error = PermanentMailError if exc.smtp_code >= 500 else MailError
            raise error(f"the mail server answered {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused:
            raise PermanentMailError("the mail server refused the recipient") from None
        except smtplib.SMTPNotSupportedError:
            raise PermanentMailError("the mail server does not support STARTTLS (or AUTH)") from None
        except ssl.SSLError as exc:
            raise MailError(f"TLS with the mail server failed ({exc.reason or type(exc).__name__})") from None
        except (smtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailError(f"cannot reach the mail server ({type(exc).__name__})") from None

    def _send(self, mime: EmailMessage) -> None:
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self._tls)  # SMTPNotSupportedError when the server cannot: never in clear
                smtp.ehlo()
            if self._credentials is not None:
                smtp.login(*self._credentials)
            smtp.send_message(mime)
