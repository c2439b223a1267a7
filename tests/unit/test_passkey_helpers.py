"""The software passkey authenticator, checked against py_webauthn's verification rather than against itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import AttestationFormat, CredentialDeviceType, PublicKeyCredentialDescriptor
from webauthn.registration.verify_registration_response import VerifiedRegistration

from passkey_helpers import SoftAuthenticator, b64url, b64url_decode

RP_ID = "localhost"
ORIGIN = "http://localhost:8080"
USER_ID = b"authgate-user-0001"


def registration_options(**kwargs: Any) -> dict[str, Any]:
    options = generate_registration_options(
        rp_id=RP_ID, rp_name="authgate", user_id=USER_ID, user_name="alice", **kwargs
    )
    parsed: dict[str, Any] = json.loads(options_to_json(options))
    return parsed


def authentication_options(**kwargs: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(options_to_json(generate_authentication_options(rp_id=RP_ID, **kwargs)))
    return parsed


def register(
    authenticator: SoftAuthenticator, *, require_uv: bool = True
) -> tuple[dict[str, Any], VerifiedRegistration]:
    options = registration_options()
    credential = authenticator.create(options, ORIGIN)
    verified = verify_registration_response(
        credential=credential,
        expected_challenge=base64url_to_bytes(options["challenge"]),
        expected_origin=ORIGIN,
        expected_rp_id=RP_ID,
        require_user_verification=require_uv,
    )
    return credential, verified


def authenticate(
    authenticator: SoftAuthenticator,
    public_key: bytes,
    *,
    sign_count: int = 0,
    origin: str = ORIGIN,
    tamper: bool = False,
) -> VerifiedAuthentication:
    options = authentication_options()
    assertion = authenticator.get(options, origin)
    if tamper:
        signature = bytearray(b64url_decode(assertion["response"]["signature"]))
        signature[-1] ^= 0x01
        assertion["response"]["signature"] = b64url(bytes(signature))
    return verify_authentication_response(
        credential=json.dumps(assertion),
        expected_challenge=base64url_to_bytes(options["challenge"]),
        expected_origin=ORIGIN,
        expected_rp_id=RP_ID,
        credential_public_key=public_key,
        credential_current_sign_count=sign_count,
        require_user_verification=True,
    )


def test_registers_and_signs_in_with_a_discoverable_credential() -> None:
    authenticator = SoftAuthenticator()
    credential, registered = register(authenticator)

    assert registered.credential_id == base64url_to_bytes(credential["id"])
    assert 16 <= len(registered.credential_id) <= 32
    assert registered.credential_public_key == authenticator.credentials[0].cose_public_key()
    assert registered.fmt == AttestationFormat.NONE
    assert registered.aaguid == "00000000-0000-0000-0000-000000000000"
    assert registered.sign_count == 0
    assert registered.user_verified
    assert registered.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    assert registered.credential_backed_up

    options = authentication_options()
    assert options["allowCredentials"] == []
    assertion = authenticator.get(options, ORIGIN)
    assert assertion["id"] == credential["id"]
    assert base64url_to_bytes(assertion["response"]["userHandle"]) == USER_ID
    verified = verify_authentication_response(
        credential=json.dumps(assertion),
        expected_challenge=base64url_to_bytes(options["challenge"]),
        expected_origin=ORIGIN,
        expected_rp_id=RP_ID,
        credential_public_key=registered.credential_public_key,
        credential_current_sign_count=0,
        require_user_verification=True,
    )
    assert verified.credential_id == registered.credential_id
    assert verified.new_sign_count == 0
    assert verified.user_verified
    assert verified.credential_backed_up


def test_wrong_origin_fails_verification() -> None:
    authenticator = SoftAuthenticator()
    options = registration_options()
    with pytest.raises(InvalidRegistrationResponse, match="origin"):
        verify_registration_response(
            credential=authenticator.create(options, "http://evil.example"),
            expected_challenge=base64url_to_bytes(options["challenge"]),
            expected_origin=ORIGIN,
            expected_rp_id=RP_ID,
        )
    _, registered = register(authenticator)
    with pytest.raises(InvalidAuthenticationResponse, match="origin"):
        authenticate(authenticator, registered.credential_public_key, origin="http://localhost:8081")


def test_tampered_signature_fails_verification() -> None:
    authenticator = SoftAuthenticator()
    _, registered = register(authenticator)
    with pytest.raises(InvalidAuthenticationResponse, match="signature"):
        authenticate(authenticator, registered.credential_public_key, tamper=True)


def test_unverified_user_fails_when_verification_is_required() -> None:
    authenticator = SoftAuthenticator(user_verified=False)
    with pytest.raises(InvalidRegistrationResponse, match="verification is required"):
        register(authenticator)
    _, registered = register(authenticator, require_uv=False)
    assert not registered.user_verified
    with pytest.raises(InvalidAuthenticationResponse, match="verification is required"):
        authenticate(authenticator, registered.credential_public_key)


def test_sign_count_step_increments_the_counter() -> None:
    authenticator = SoftAuthenticator(sign_count_step=1)
    _, registered = register(authenticator)
    first = authenticate(authenticator, registered.credential_public_key, sign_count=registered.sign_count)
    assert first.new_sign_count == 1
    second = authenticate(authenticator, registered.credential_public_key, sign_count=first.new_sign_count)
    assert second.new_sign_count == 2
    authenticator.sign_count_step = 0
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        authenticate(authenticator, registered.credential_public_key, sign_count=second.new_sign_count)


def test_excluded_credential_refuses_creation() -> None:
    authenticator = SoftAuthenticator()
    credential, _ = register(authenticator)
    other = PublicKeyCredentialDescriptor(id=b"not-held-by-this-authenticator")
    authenticator.create(registration_options(exclude_credentials=[other]), ORIGIN)
    held = PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential["id"]))
    with pytest.raises(ValueError, match="InvalidStateError"):
        authenticator.create(registration_options(exclude_credentials=[other, held]), ORIGIN)
    assert len(authenticator.credentials) == 2


def test_without_es256_creation_is_refused() -> None:
    options = registration_options(supported_pub_key_algs=[COSEAlgorithmIdentifier.EDDSA])
    with pytest.raises(ValueError, match="ES256"):
        SoftAuthenticator().create(options, ORIGIN)


def test_get_picks_the_allowed_or_named_credential() -> None:
    authenticator = SoftAuthenticator()
    first, _ = register(authenticator)
    second, _ = register(authenticator)
    allow = [PublicKeyCredentialDescriptor(id=base64url_to_bytes(second["id"]))]
    assert authenticator.get(authentication_options(allow_credentials=allow), ORIGIN)["id"] == second["id"]
    assert authenticator.get(authentication_options(), ORIGIN)["id"] == first["id"]
    assert authenticator.get(authentication_options(), ORIGIN, credential_id=second["id"])["id"] == second["id"]
    unknown = [PublicKeyCredentialDescriptor(id=b"unknown")]
    with pytest.raises(ValueError, match="NotAllowedError"):
        authenticator.get(authentication_options(allow_credentials=unknown), ORIGIN)
    with pytest.raises(ValueError, match="NotAllowedError"):
        authenticator.get(json.loads(options_to_json(generate_authentication_options(rp_id="example.com"))), ORIGIN)
