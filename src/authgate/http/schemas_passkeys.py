"""The JSON bodies of passkeys (`handlers/passkeys.py`): the options for the browser's WebAuthn calls, and what
the browser answered, in WebAuthn's JSON form (`PublicKeyCredential.toJSON()`).

The credentials keep the fields WebAuthn names (`rawId`, `clientDataJSON`, ...) and ignore the ones they do not
know, since browsers add more over time; the values are checked by py_webauthn in `domain/passkeys.py`.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from authgate.domain.passkeys import Passkey
from authgate.http.schemas import Password

_BASE64URL = r"^[A-Za-z0-9_-]*={0,2}$"

CredentialId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=1400, pattern=_BASE64URL, description="The credential's id, base64url")
]
ClientData = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=_BASE64URL, description="base64url")]
AuthenticatorData = Annotated[
    str, msgspec.Meta(min_length=1, max_length=4096, pattern=_BASE64URL, description="base64url")
]
AttestationObject = Annotated[
    str, msgspec.Meta(min_length=1, max_length=32768, pattern=_BASE64URL, description="base64url")
]
Signature = Annotated[str, msgspec.Meta(min_length=1, max_length=1024, pattern=_BASE64URL, description="base64url")]
UserHandle = Annotated[str, msgspec.Meta(max_length=128, pattern=_BASE64URL, description="base64url")]
Transport = Annotated[str, msgspec.Meta(max_length=32)]
PasskeyName = Annotated[
    str, msgspec.Meta(max_length=64, description="How the account page lists it", examples=["Phone"])
]


class AttestationResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    client_data_json: ClientData = msgspec.field(name="clientDataJSON")
    attestation_object: AttestationObject = msgspec.field(name="attestationObject")
    transports: Annotated[list[Transport], msgspec.Meta(max_length=8)] | None = None


class AssertionResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    client_data_json: ClientData = msgspec.field(name="clientDataJSON")
    authenticator_data: AuthenticatorData = msgspec.field(name="authenticatorData")
    signature: Signature
    user_handle: UserHandle | None = msgspec.field(default=None, name="userHandle")


class _Credential(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: CredentialId
    raw_id: CredentialId = msgspec.field(name="rawId")
    type: Literal["public-key"]
    authenticator_attachment: Literal["platform", "cross-platform"] | None = msgspec.field(
        default=None, name="authenticatorAttachment"
    )


class RegistrationCredential(_Credential, kw_only=True, omit_defaults=True):
    """What `navigator.credentials.create()` answered, as `PublicKeyCredential.toJSON()` gives it."""

    response: AttestationResponse


class AuthenticationCredential(_Credential, kw_only=True, omit_defaults=True):
    """What `navigator.credentials.get()` answered, as `PublicKeyCredential.toJSON()` gives it."""

    response: AssertionResponse


class PasskeyOptionsRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    password: Password


class PasskeyRegistrationRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    credential: RegistrationCredential
    name: PasskeyName = ""
    """Empty: "Passkey"."""


class PasskeyRenameRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: PasskeyName


class PasskeyLoginRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    credential: AuthenticationCredential


class PasskeyOptions(msgspec.Struct, kw_only=True):
    public_key: dict[str, Any]
    """For `navigator.credentials.create({publicKey: ...})` or `.get(...)`, in WebAuthn's JSON form: decode with
    `PublicKeyCredential.parseCreationOptionsFromJSON()` / `parseRequestOptionsFromJSON()`."""
    expires_in: int
    """Seconds left to answer."""


class PasskeyResponse(msgspec.Struct, kw_only=True):
    id: str
    name: str
    credential_id: str
    """base64url, as `PublicKeyCredential.id`."""
    backed_up: bool
    """Synced to the user's other devices (a password manager's passkey)."""
    transports: list[str]
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, passkey: Passkey) -> PasskeyResponse:
        return cls(
            id=passkey.id,
            name=passkey.name,
            credential_id=base64.urlsafe_b64encode(passkey.credential_id).decode().rstrip("="),
            backed_up=passkey.backed_up,
            transports=list(passkey.transports),
            created_at=passkey.created_at,
            last_used_at=passkey.last_used_at,
        )


class PasskeyList(msgspec.Struct, kw_only=True):
    items: list[PasskeyResponse]
    """Oldest first."""
