"""A software passkey authenticator for tests: it answers WebAuthn registration and login options as a browser and a
platform authenticator would, without a browser.

`SoftAuthenticator.create` takes the JSON of PublicKeyCredentialCreationOptions (as py_webauthn's `options_to_json`
makes it) and returns a RegistrationResponseJSON dict; `SoftAuthenticator.get` takes the JSON of
PublicKeyCredentialRequestOptions and returns an AuthenticationResponseJSON dict. Keys are ES256 (P-256), attestation
is "none", credentials are discoverable and flagged as synced passkeys (backup eligible and backed up). Byte values
are base64url without padding, as the WebAuthn JSON forms have them; tests may edit the returned dicts to tamper.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ES256 = -7
FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40
AAGUID = bytes(16)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    """One passkey the authenticator holds."""

    id: str
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {1: 2, 3: ES256, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )


class SoftAuthenticator:
    """A passkey authenticator in software: ES256 (P-256) keys, 'none' attestation, discoverable credentials."""

    def __init__(self, *, user_verified: bool = True, sign_count_step: int = 0) -> None:
        self.user_verified = user_verified
        self.sign_count_step = sign_count_step
        self.credentials: list[Credential] = []

    def create(self, options: dict[str, Any], origin: str) -> dict[str, Any]:
        """Register a new credential: navigator.credentials.create() with this authenticator."""
        rp_id: str = options["rp"].get("id") or _host(origin)
        if not any(p.get("type") == "public-key" and p.get("alg") == ES256 for p in options["pubKeyCredParams"]):
            raise ValueError("NotSupportedError: ES256 (-7) is not in pubKeyCredParams")
        excluded = {c["id"] for c in options.get("excludeCredentials") or []}
        if any(c.rp_id == rp_id and c.id in excluded for c in self.credentials):
            raise ValueError("InvalidStateError: a credential in excludeCredentials is held for this rp id")
        raw_id = secrets.token_bytes(16 + secrets.randbelow(17))
        credential = Credential(
            id=b64url(raw_id),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=b64url_decode(options["user"]["id"]),
        )
        self.credentials.append(credential)
        client_data = _client_data("webauthn.create", options["challenge"], origin)
        attested = AAGUID + struct.pack(">H", len(raw_id)) + raw_id + credential.cose_public_key()
        auth_data = self._authenticator_data(credential, FLAG_AT) + attested
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(self, options: dict[str, Any], origin: str, *, credential_id: str | None = None) -> dict[str, Any]:
        """Sign in with a held credential: navigator.credentials.get() with this authenticator."""
        rp_id: str = options.get("rpId") or _host(origin)
        credential = self._pick(rp_id, [c["id"] for c in options.get("allowCredentials") or []], credential_id)
        credential.sign_count += self.sign_count_step
        client_data = _client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._authenticator_data(credential, 0)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _pick(self, rp_id: str, allowed: list[str], credential_id: str | None) -> Credential:
        held = {c.id: c for c in self.credentials if c.rp_id == rp_id}
        if credential_id is not None:
            if credential_id not in held:
                raise ValueError(f"no credential {credential_id} is held for {rp_id}")
            return held[credential_id]
        if allowed:
            for id_ in allowed:
                if id_ in held:
                    return held[id_]
            raise ValueError(f"NotAllowedError: none of allowCredentials is held for {rp_id}")
        if not held:
            raise ValueError(f"NotAllowedError: no credential is held for {rp_id}")
        return next(iter(held.values()))

    def _authenticator_data(self, credential: Credential, extra_flags: int) -> bytes:
        flags = FLAG_UP | FLAG_BE | FLAG_BS | extra_flags | (FLAG_UV if self.user_verified else 0)
        return hashlib.sha256(credential.rp_id.encode()).digest() + struct.pack(">BI", flags, credential.sign_count)


def _client_data(type_: str, challenge: str, origin: str) -> bytes:
    data = {"type": type_, "challenge": challenge, "origin": origin, "crossOrigin": False}
    return json.dumps(data, separators=(",", ":")).encode()


def _host(origin: str) -> str:
    host = urlsplit(origin).hostname
    if not host:
        raise ValueError(f"origin {origin!r} has no host")
    return host
