"""Passkeys (WebAuthn): logging in with a key pair kept by the user's device or password manager, not a password.

A signed-in user adds one in two calls: `begin_registration` (with the password, since a passkey is a way into
the account) answers the options for the browser's `navigator.credentials.create()`, and `register` checks what
the browser answered and keeps the credential's id, its public key and its signature counter; nothing secret is
stored. A login needs no account name: `begin_login` answers options that name no credential, so the browser
offers the passkeys it holds for this site and nobody learns whether an account has one, and `authenticate`
checks what `navigator.credentials.get()` answered against the stored public key and answers the user, whose
session `AuthService.login_passkey` starts.

The authenticator must verify its user (a PIN, a fingerprint, a face), so a passkey is two factors in one, what
the user has and what they know or are: a passkey login skips the code of two-step login, and its session's
`amr` says `swk`, `user` and `mfa` (`Session.amr`).

Challenges are stateless. Each carries what it is for, its expiry, the user it was made for (registration) and
an HMAC under a server secret (CHALLENGE_SECRET, made on first start), so any worker or instance checks it
without storing it, and asking for options writes nothing. A challenge is spent when a response to it is
accepted: its digest goes into the store, whose key refuses it a second time, until it expires and the
retention sweep deletes it. py_webauthn checks the rest: the origin and relying party, the signature, the flags,
and that a counter that counts has moved forward (a cloned authenticator does not).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from authgate.domain.audit import DetailValue
from authgate.domain.auth import Principal
from authgate.domain.clients import ClientInfo, by_whom, client_event
from authgate.domain.clock import Clock
from authgate.domain.ids import is_id, new_id
from authgate.domain.reauth import Reauthentication
from authgate.domain.users import User
from authgate.errors import (
    FieldError,
    InvalidPasskey,
    PasskeyNotFound,
    PasskeysUnavailable,
    TooManyPasskeys,
    UserNotFound,
    ValidationFailed,
)

if TYPE_CHECKING:
    from authgate.storage.base import Database

CHALLENGE_SECRET = "passkey_challenge"  # noqa: S105  (a name, not a secret)
CHALLENGE_TTL = 300
"""Seconds between asking for options and answering them (the browser's prompt waits as long)."""
MAX_PASSKEYS = 20
"""Passkeys one account may have."""

TRANSPORTS = frozenset({"usb", "nfc", "ble", "smart-card", "hybrid", "internal"})
"""How a browser may reach an authenticator (WebAuthn's AuthenticatorTransport); others are not kept."""

Purpose = Literal["register", "login"]
PasskeyChange = Literal["added", "removed", "removed_by_admin"]
ChangedHook = Callable[[User, PasskeyChange, str], None]

_PURPOSES: dict[Purpose, bytes] = {"register": b"r", "login": b"l"}
_VERSION = b"\x01"
_NONCE_BYTES = 16
_MAC_BYTES = 16
_NO_USER = bytes(16)
# version, purpose, expiry (8 bytes), nonce, user (16 bytes), MAC
_CHALLENGE_BYTES = 1 + 1 + 8 + _NONCE_BYTES + 16 + _MAC_BYTES


class Passkey(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    credential_id: bytes
    public_key: bytes
    """The credential's public key, COSE-encoded, as the authenticator gave it."""
    sign_count: int
    name: str
    backed_up: bool
    """Synced to the user's other devices (a password manager's passkey), as the authenticator last said."""
    transports: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None = None


class RelyingParty(msgspec.Struct, frozen=True):
    """Who the passkeys belong to: the domain they are bound to (`id`), the name authenticators show, and the
    origins the pages asking for them are served from."""

    id: str
    name: str
    origins: tuple[str, ...]

    @property
    def available(self) -> bool:
        """Browsers bind a passkey to a domain: an IP address cannot be one."""
        return bool(self.id) and not _is_ip(self.id)


class PasskeyChallenges:
    """The WebAuthn challenges, stateless: what one is for, its expiry, its user (registration) and a nonce, under
    an HMAC of the server secret CHALLENGE_SECRET. That they are answered once is the store's part."""

    def __init__(self, secret: bytes, clock: Clock, ttl: int = CHALLENGE_TTL) -> None:
        self._secret = secret
        self._clock = clock
        self.ttl = ttl

    def issue(self, purpose: Purpose, user_id: str | None = None) -> bytes:
        expires = int(self._clock().timestamp()) + self.ttl
        user = uuid.UUID(user_id).bytes if user_id is not None else _NO_USER
        payload = _VERSION + _PURPOSES[purpose] + expires.to_bytes(8, "big") + os.urandom(_NONCE_BYTES) + user
        return payload + self._mac(payload)

    def open(self, challenge: bytes, purpose: Purpose, user_id: str | None = None) -> datetime | None:
        """The challenge's expiry if it is one of ours, for `purpose` (and `user_id`), and not expired; else None."""
        if len(challenge) != _CHALLENGE_BYTES:
            return None
        payload, mac = challenge[:-_MAC_BYTES], challenge[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        if payload[:1] != _VERSION or payload[1:2] != _PURPOSES[purpose]:
            return None
        user = uuid.UUID(user_id).bytes if user_id is not None else _NO_USER
        if payload[-16:] != user:
            return None
        expires = int.from_bytes(payload[2:10], "big")
        if expires <= self._clock().timestamp():
            return None
        return datetime.fromtimestamp(expires, UTC)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, b"passkey_challenge:" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


class Passkeys:
    """The passkeys' use cases: adding (with the password), listing and removing them, and the login's check."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        challenges: PasskeyChallenges,
        reauth: Reauthentication,
        relying_party: RelyingParty,
    ) -> None:
        self.db = db
        self.clock = clock
        self.challenges = challenges
        self.reauth = reauth
        self.relying_party = relying_party
        self.on_changed: ChangedHook | None = None
        """Called once a passkey was added or removed, with its name, to tell the user (the email flows set it)."""

    # -- adding and removing -------------------------------------------------------------------------------------

    async def begin_registration(self, principal: Principal, password: str, client: ClientInfo) -> dict[str, Any]:
        """The options for `navigator.credentials.create()`, in WebAuthn's JSON form: a challenge for this user,
        a discoverable credential verified by its user, and the user's passkeys to exclude (an authenticator
        refuses to make a second one for the same account)."""
        from webauthn import generate_registration_options, options_to_json  # a worker's start need not wait
        from webauthn.helpers.structs import (
            AuthenticatorSelectionCriteria,
            PublicKeyCredentialDescriptor,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        rp = self._available()
        user = principal.user
        await self.reauth.confirm(user, password, client, "passkey_add")
        async with self.db.reader() as r:
            existing = await r.passkeys.list_for_user(user.id)
        if len(existing) >= MAX_PASSKEYS:
            raise TooManyPasskeys()
        options = generate_registration_options(
            rp_id=rp.id,
            rp_name=rp.name,
            user_id=uuid.UUID(user.id).bytes,
            user_name=user.username,
            user_display_name=user.username,
            challenge=self.challenges.issue("register", user.id),
            timeout=self.challenges.ttl * 1000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=p.credential_id) for p in existing],
        )
        created: dict[str, Any] = json.loads(options_to_json(options))
        return created

    async def register(
        self, principal: Principal, credential: Mapping[str, Any], name: str, client: ClientInfo
    ) -> Passkey:
        """Check what `navigator.credentials.create()` answered to this user's challenge and keep the passkey.
        ValidationFailed on `credential` when it is not a valid answer (or answers a challenge spent, expired or
        made for someone else), on `name` for control characters."""
        from webauthn import verify_registration_response
        from webauthn.helpers.exceptions import WebAuthnException

        rp = self._available()
        user = principal.user
        listed_as = _name(name)
        challenge = _challenge_of(credential)
        expires = self.challenges.open(challenge, "register", user.id) if challenge is not None else None
        if challenge is None or expires is None:
            raise _invalid_credential("does not answer a current challenge of yours: ask for new options")
        try:
            verified = verify_registration_response(
                credential=dict(credential),
                expected_challenge=challenge,
                expected_rp_id=rp.id,
                expected_origin=list(rp.origins),
                require_user_verification=True,
            )
        except (WebAuthnException, *_MALFORMED) as exc:
            raise _invalid_credential(f"was not accepted: {_reason(exc)}") from None
        now = self.clock()
        transports = credential.get("response", {}).get("transports")
        known = tuple(t for t in transports if t in TRANSPORTS) if isinstance(transports, list) else ()
        passkey = Passkey(
            id=new_id(),
            user_id=user.id,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=listed_as,
            backed_up=verified.credential_backed_up,
            transports=tuple(dict.fromkeys(known)),
            created_at=now,
        )
        event = client_event(
            "passkey_added", client, now, user_id=user.id, detail={"passkey_id": passkey.id, "name": passkey.name}
        )
        async with self.db.transaction() as tx:
            if len(await tx.passkeys.list_for_user(user.id)) >= MAX_PASSKEYS:
                raise TooManyPasskeys()
            if not await tx.passkeys.spend_challenge(_digest(challenge), expires):
                raise _invalid_credential("answers a challenge already used: ask for new options")
            if not await tx.passkeys.add(passkey):
                raise _invalid_credential("is already registered")
            await tx.audit.add(event)
        self._changed(user, "added", passkey.name)
        return passkey

    async def list(self, user_id: str) -> list[Passkey]:
        """A user's passkeys, oldest first; UserNotFound when there is no such user (an admin's question)."""
        async with self.db.reader() as r:
            if not is_id(user_id) or await r.users.get(user_id) is None:
                raise UserNotFound()
            return await r.passkeys.list_for_user(user_id)

    async def rename(self, user_id: str, passkey_id: str, name: str) -> Passkey:
        """The user's passkey under a new name (an empty one reads "Passkey"); PasskeyNotFound."""
        if not is_id(passkey_id):
            raise PasskeyNotFound()
        async with self.db.transaction() as tx:
            renamed = await tx.passkeys.rename(user_id, passkey_id, _name(name))
        if renamed is None:
            raise PasskeyNotFound()
        return renamed

    async def remove(self, user_id: str, passkey_id: str, client: ClientInfo, *, actor_id: str | None = None) -> None:
        """The user removes one of their passkeys, or an admin (`actor_id`) removes it for them (a lost or stolen
        device). UserNotFound, PasskeyNotFound; audited (with the admin) and mailed to the user."""
        if not is_id(user_id):
            raise UserNotFound()
        if not is_id(passkey_id):
            raise PasskeyNotFound()
        now = self.clock()
        async with self.db.transaction() as tx:
            user = await tx.users.get(user_id)
            if user is None:
                raise UserNotFound()
            removed = await tx.passkeys.delete(user_id, passkey_id)
            if removed is None:
                raise PasskeyNotFound()
            detail: dict[str, DetailValue] = {"passkey_id": passkey_id, "name": removed.name}
            if actor_id is not None:
                detail |= by_whom(actor_id)
            await tx.audit.add(
                client_event("passkey_removed", client, now, user_id=user_id, actor_id=actor_id, detail=detail)
            )
        self._changed(user, "removed" if actor_id is None else "removed_by_admin", removed.name)

    # -- logging in ----------------------------------------------------------------------------------------------

    def begin_login(self) -> dict[str, Any]:
        """The options for `navigator.credentials.get()`: a challenge, and no credential named."""
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers.structs import UserVerificationRequirement

        rp = self._available()
        options = generate_authentication_options(
            rp_id=rp.id,
            challenge=self.challenges.issue("login"),
            timeout=self.challenges.ttl * 1000,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        requested: dict[str, Any] = json.loads(options_to_json(options))
        return requested

    async def authenticate(self, credential: Mapping[str, Any], client: ClientInfo) -> User:
        """The user whose passkey signed a current login challenge, verified by the authenticator, the challenge
        spent. InvalidPasskey (audited as a failed login) otherwise, the same for every reason."""
        from webauthn import verify_authentication_response
        from webauthn.helpers.exceptions import WebAuthnException

        rp = self._available()
        challenge = _challenge_of(credential)
        expires = self.challenges.open(challenge, "login") if challenge is not None else None
        if challenge is None or expires is None:
            raise InvalidPasskey("That sign-in has expired: try again")
        credential_id = _b64decode(credential.get("rawId"))
        passkey = user = None
        if credential_id is not None:
            async with self.db.reader() as r:
                passkey = await r.passkeys.get_by_credential(credential_id)
                user = await r.users.get(passkey.user_id) if passkey is not None else None
        if passkey is None or user is None:
            await self._failed(None, client, "unknown_passkey")
            raise InvalidPasskey()
        try:
            verified = verify_authentication_response(
                credential=dict(credential),
                expected_challenge=challenge,
                expected_rp_id=rp.id,
                expected_origin=list(rp.origins),
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=True,
            )
        except (WebAuthnException, *_MALFORMED):
            await self._failed(user, client, "passkey_rejected")
            raise InvalidPasskey() from None
        handle = credential.get("response", {}).get("userHandle")
        if handle is not None and _b64decode(handle) != uuid.UUID(user.id).bytes:
            await self._failed(user, client, "passkey_rejected")
            raise InvalidPasskey()
        if user.disabled:
            await self._failed(user, client, "disabled")
            raise InvalidPasskey()
        async with self.db.transaction() as tx:
            spent = await tx.passkeys.spend_challenge(_digest(challenge), expires)
            if spent and await tx.passkeys.used(
                passkey.id, verified.new_sign_count, verified.credential_backed_up, self.clock()
            ):
                return user
        await self._failed(user, client, "challenge_reused" if not spent else "passkey_rejected")
        raise InvalidPasskey()

    # -- helpers -------------------------------------------------------------------------------------------------

    def _available(self) -> RelyingParty:
        if not self.relying_party.available:
            raise PasskeysUnavailable()
        return self.relying_party

    async def _failed(self, user: User | None, client: ClientInfo, reason: str) -> None:
        detail = {"reason": reason, "method": "passkey"}
        event = client_event(
            "login_failure",
            client,
            self.clock(),
            user_id=None if user is None else user.id,
            outcome="failure",
            detail=detail,
        )
        async with self.db.writer() as w:
            await w.audit.add(event)

    def _changed(self, user: User, change: PasskeyChange, name: str) -> None:
        if self.on_changed is not None:
            self.on_changed(user, change, name)


_MALFORMED = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    binascii.Error,
)
"""What py_webauthn (its JSON and CBOR parsers) may let escape on malformed input, beside its WebAuthnException."""


def _name(typed: str) -> str:
    """The name a passkey is listed by: trimmed, "Passkey" when empty; ValidationFailed on `name` for control
    characters (a NUL, which PostgreSQL's text cannot hold, a line break that would garble the mail)."""
    if any(unicodedata.category(c) == "Cc" for c in typed):
        raise ValidationFailed([FieldError("name", "must not contain control characters")])
    return typed.strip() or "Passkey"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def _invalid_credential(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("credential", message)])


def _b64decode(value: object) -> bytes | None:
    if not isinstance(value, str) or len(value) > 4096:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        return None


def _challenge_of(credential: Mapping[str, Any]) -> bytes | None:
    """The challenge the browser signed, from the credential's client data (None when it cannot be read)."""
    response = credential.get("response")
    data = _b64decode(response.get("clientDataJSON")) if isinstance(response, Mapping) else None
    if data is None:
        return None
    try:
        client_data = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        return None
    challenge = client_data.get("challenge") if isinstance(client_data, dict) else None
    return _b64decode(challenge)


def _digest(challenge: bytes) -> bytes:
    return hashlib.sha256(challenge).digest()


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
