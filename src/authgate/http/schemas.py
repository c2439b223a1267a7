"""The JSON bodies of the HTTP API, as msgspec types.

The same types validate requests, encode responses and generate the OpenAPI document, so the three cannot
drift apart. Field limits here are the outer bounds; the domain applies the full rules (and reports every
failing field at once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from authgate.domain.keys import Jwk
from authgate.domain.mfa import MfaStatus
from authgate.domain.passwords import PASSWORD_MAX
from authgate.domain.sessions import LoginMethod, Session
from authgate.domain.users import EMAIL_MAX, USERNAME_PATTERN, User

Username = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        description="3 to 32 of A-Z a-z 0-9 _ . - (after NFKC normalisation)",
        extra_json_schema={"pattern": USERNAME_PATTERN},
        examples=["alice"],
    ),
]
Email = Annotated[str, msgspec.Meta(min_length=1, max_length=EMAIL_MAX, examples=["alice@example.com"])]
Password = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=PASSWORD_MAX,
        description="8 to 1024 characters, any Unicode; refused when it is a common password",
        examples=["correct horse battery staple"],
    ),
]
Login = Annotated[str, msgspec.Meta(min_length=1, max_length=EMAIL_MAX, description="A username or an email")]
RefreshTokenText = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
DeviceToken = Annotated[
    str,
    msgspec.Meta(
        max_length=128,
        description="The `device_token` of this client's last successful login: lets it past the account's "
        "login back-off (docs/abuse.md)",
    ),
]


class RegisterRequest(msgspec.Struct, kw_only=True):
    username: Username
    email: Email
    password: Password


class RegistrationAccepted(msgspec.Struct):
    """With AUTHGATE_HIDE_ACCOUNT_EXISTENCE: the same answer whether or not the email was already registered."""

    status: Literal["check_your_email"] = "check_your_email"


class LoginRequest(msgspec.Struct, kw_only=True):
    username: Login
    password: Password
    device_token: DeviceToken | None = None


MfaCode = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        description="6 digits from the authenticator app, or one of the recovery codes",
        examples=["123456"],
    ),
]


class MfaLoginRequest(msgspec.Struct, kw_only=True):
    mfa_token: Annotated[
        str, msgspec.Meta(min_length=1, max_length=256, description="From the login's 403 `mfa_required`")
    ]
    code: MfaCode


class MfaPasswordRequest(msgspec.Struct, kw_only=True):
    password: Password


class MfaCodeRequest(msgspec.Struct, kw_only=True):
    code: MfaCode


class MfaProofRequest(msgspec.Struct, kw_only=True):
    """The password and a code (or a recovery code): what turning two-step login off, or renewing the recovery
    codes, takes."""

    password: Password
    code: MfaCode


class TotpEnrollment(msgspec.Struct, kw_only=True):
    secret: str
    """Base32, to type into the app by hand; shown this once."""
    otpauth_uri: str
    """`otpauth://totp/...`: show it as a QR code for the app to scan."""


class RecoveryCodes(msgspec.Struct, kw_only=True):
    recovery_codes: list[str]
    """Each works once in place of a code; shown this once."""


class MfaStatusResponse(msgspec.Struct, kw_only=True):
    enabled: bool
    pending: bool
    """An authenticator was set up and waits for its first code (`/auth/mfa/totp/confirm`)."""
    recovery_codes_left: int

    @classmethod
    def of(cls, status: MfaStatus) -> MfaStatusResponse:
        return cls(enabled=status.enabled, pending=status.pending, recovery_codes_left=status.recovery_codes_left)


class RefreshRequest(msgspec.Struct, kw_only=True):
    refresh_token: RefreshTokenText


class TokenResponse(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int
    refresh_token: str
    device_token: str | msgspec.UnsetType = msgspec.UNSET
    """After a login: present it on this client's next logins (it gets past the account's back-off)."""


class UserResponse(msgspec.Struct, kw_only=True):
    id: str
    username: str
    email: str
    roles: list[str]
    email_verified: bool
    disabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserResponse:
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            roles=list(user.roles),
            email_verified=user.email_verified,
            disabled=user.disabled,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class SessionResponse(msgspec.Struct, kw_only=True):
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str
    current: bool
    second_factor: str | None
    """`totp` or `recovery_code` when the login took a second factor."""
    method: LoginMethod
    """How the login proved who the user is: `password` (and maybe a second factor) or `passkey`."""

    @classmethod
    def of(cls, session: Session, current_id: str) -> SessionResponse:
        return cls(
            id=session.id,
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            expires_at=session.expires_at,
            user_agent=session.user_agent,
            ip=session.ip,
            current=session.id == current_id,
            second_factor=session.second_factor,
            method=session.method,
        )


class SessionList(msgspec.Struct):
    items: list[SessionResponse]


class LogoutAllRequest(msgspec.Struct, kw_only=True):
    keep_current: bool = False


class LogoutAllResponse(msgspec.Struct):
    ended: int


class ChangePasswordRequest(msgspec.Struct, kw_only=True):
    current_password: Password
    new_password: Password


class IntrospectionResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 7662: `active` alone when the token is not (or no longer) valid."""

    active: bool
    sub: str | None = None
    sid: str | None = None
    username: str | None = None
    roles: list[str] | None = None
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    iss: str | None = None
    aud: str | None = None
    jti: str | None = None
    token_type: str | None = None
    amr: list[str] | None = None


class IntrospectionRequest(msgspec.Struct):
    """RFC 7662: the token to introspect, as a form field."""

    token: str


class JwksResponse(msgspec.Struct):
    keys: list[Jwk]


class Message(msgspec.Struct):
    message: str


class HealthResponse(msgspec.Struct, omit_defaults=True):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}
