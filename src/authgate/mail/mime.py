"""A `MailMessage` as an RFC 5322 message: From, To, Subject, Date, Message-ID, text and (optionally) HTML."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from authgate.domain.mail import MailMessage


def to_mime(message: MailMessage, sender: str) -> EmailMessage:
    """Header values go through the email package's strict policy, which refuses CR/LF (no header injection)."""
    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    mime["Message-ID"] = make_msgid(domain=domain)
    mime["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to us
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime
