"""The JSON bodies of the email flows (`handlers/email.py`, and the 202 of `PATCH /auth/me`).

Bodies refuse unknown fields (422), like every body that changes an account.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from authgate.domain.email_tokens import MAX_EMAIL_TOKEN_LENGTH
from authgate.http.schemas import Email, Password

EmailTokenText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_EMAIL_TOKEN_LENGTH,
        description="The `token` of the link in the mail",
        examples=["kq3Vf1sPjM0aEJm1aZb7tG0xXHcC9W2WlQ2kq7oRmB8"],
    ),
]


class EmailTokenRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token: EmailTokenText


class EmailAddressRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email


class ResetPasswordRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token: EmailTokenText
    new_password: Password


class MailAccepted(msgspec.Struct):
    """The same answer whether or not a mail was sent (so it tells nothing about who has an account)."""

    status: Literal["check_your_email"] = "check_your_email"


class EmailChangePending(msgspec.Struct, kw_only=True):
    """Nothing has changed yet: the change takes effect when the link mailed to the new address is followed."""

    status: Literal["confirm_new_email"] = "confirm_new_email"
    email: str
    """The new address (normalised), which the confirmation link was mailed to."""
