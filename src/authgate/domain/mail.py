"""Outgoing mail, as the use cases see it: a message, and the three seams that render, queue and send it.

    use case ──compose──▶ MailTemplates (Jinja2 files: authgate/web/templates/mail, or an override folder)
             ──submit───▶ Outbox (bounded queue, background workers, retries with back-off)
                              ──send──▶ Mailer (SMTP; or, in development, the log or a folder of .eml files)

A use case never waits for a mail server: it commits its transaction, then submits a *job* (which may read and
write the database itself, then returns the messages to send) and answers at once. A full queue or a mail
server that keeps failing costs a log line and a counter, never an error to the caller.

`MailMessage.link` carries a secret (a token). Nothing logs it, except the console mailer in development
(`authgate.mail.console`), which exists so that `make run` needs no mail server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import msgspec


class MailMessage(msgspec.Struct, frozen=True, kw_only=True):
    to: str
    subject: str
    text: str
    html: str | None = None
    template: str = ""
    """What kind of mail this is (its template's name): what logs and metrics say instead of the content."""
    link: str | None = None
    """The link the mail carries (it holds a token): never logged, but by the console mailer in development."""


class Mailer(Protocol):
    async def send(self, message: MailMessage) -> None:
        """Deliver `message` or raise (`MailError` or any exception of the transport); the outbox retries."""


class MailError(Exception):
    """A message could not be handed to the mail server."""


class PermanentMailError(MailError):
    """The server refused for good (a 5xx answer): trying again would not help."""


MailJob = Callable[[], Awaitable[Sequence[MailMessage]]]
"""Background work that ends in mail: it may read and write the database, then returns what to send."""


class Outbox(Protocol):
    def submit(self, job: MailJob, name: str) -> bool:
        """Queue `job` (named for logs and metrics) without waiting; False when the queue is full (it is
        dropped, logged and counted)."""


class MailTemplates(Protocol):
    def render(self, name: str, to: str, context: Mapping[str, object], link: str | None = None) -> MailMessage:
        """The message of template `name` (its subject, text and HTML parts) to `to`."""
