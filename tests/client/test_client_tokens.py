"""The local check, `authgate.client.verify`: every RFC 8725 rule, with no I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fake_authgate import b64url, encode_token

from authgate.client import Claims, ExpiredToken, Forbidden, InvalidToken, UnknownKey, verify
from authgate.client.tokens import MAX_TOKEN_LENGTH, require_roles

ISSUER = "https://auth.example.com"
KEY = Ed25519PrivateKey.generate()
KEYS: dict[str, Ed25519PublicKey] = {"k1": KEY.public_key()}
HEADER = {"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": "authgate",
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": "j1",
        "sid": "s1",
        "roles": ["user", "admin"],
        "username": "alice",
        "email_verified": True,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(header: dict[str, Any] | None = None, **overrides: Any) -> str:
    return encode_token(KEY, {**HEADER, **(header or {})}, claims(**overrides))


def check(raw: str, **options: Any) -> Claims:
    return verify(raw, KEYS, issuer=ISSUER, **options)


def test_a_valid_token_gives_its_claims() -> None:
    result = check(token())
    assert (result.sub, result.sid, result.username) == ("user-1", "s1", "alice")
    assert result.roles == ("user", "admin")
    assert result.email_verified is True
    assert result.has_roles("admin") and not result.has_roles("admin", "ops")


def test_email_verified_may_be_absent() -> None:
    assert check(token(email_verified=None)).email_verified is False


def test_amr_tells_a_two_step_login() -> None:
    assert check(token(amr=["pwd", "otp", "mfa"])).used_second_factor is True
    assert check(token(amr=["pwd"])).used_second_factor is False
    absent = check(token())  # a server from before two-step login: a password
    assert absent.amr == ("pwd",) and absent.used_second_factor is False


def test_a_token_signed_by_pyjwt_verifies() -> None:
    """Interoperability: nothing depends on our own encoder's key order or spacing."""
    raw = jwt.encode(claims(), KEY, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": "k1"})
    assert check(raw).sub == "user-1"


def test_expired() -> None:
    with pytest.raises(ExpiredToken):
        check(token(exp=int(time.time()) - 3600))


def test_expiry_within_the_leeway_is_tolerated() -> None:
    raw = token(exp=int(time.time()) - 10)
    assert check(raw, leeway=30).sub == "user-1"
    with pytest.raises(ExpiredToken):
        check(raw, leeway=0)


def test_not_yet_valid() -> None:
    with pytest.raises(InvalidToken, match="not valid yet"):
        check(token(nbf=int(time.time()) + 3600))
    assert check(token(nbf=int(time.time()) + 10), leeway=30).sub == "user-1"


def test_the_clock_can_be_given() -> None:
    raw = token(exp=2_000_000_000, nbf=1_000_000_000, iat=1_000_000_000)
    assert check(raw, now=1_500_000_000).sub == "user-1"
    with pytest.raises(ExpiredToken):
        check(raw, now=2_100_000_000)


def test_wrong_audience() -> None:
    with pytest.raises(InvalidToken, match="wrong audience"):
        check(token(aud="billing"))
    assert check(token(aud="billing"), audience="billing").aud == "billing"


def test_wrong_issuer() -> None:
    with pytest.raises(InvalidToken, match="wrong issuer"):
        check(token(iss="https://evil.example.com"))
    with pytest.raises(InvalidToken, match="wrong issuer"):
        check(token(iss=ISSUER + "/"))


@pytest.mark.parametrize("typ", ["JWT", "at+JWT", "application/at+jwt", "refresh+jwt", None])
def test_wrong_typ(typ: str | None) -> None:
    header = {k: v for k, v in {**HEADER, "typ": typ}.items() if v is not None}
    with pytest.raises(InvalidToken):
        check(encode_token(KEY, header, claims()))


def test_alg_none_is_rejected() -> None:
    signing_input = b64url(json.dumps({**HEADER, "alg": "none"}).encode()) + "." + b64url(json.dumps(claims()).encode())
    for raw in (signing_input + ".", signing_input):
        with pytest.raises(InvalidToken):
            check(raw)


def test_hs256_keyed_with_the_public_key_is_rejected() -> None:
    """The classic algorithm confusion: HMAC with the (public) verification key as the secret."""
    public = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    for secret in (public, b64url(public).encode()):
        signing_input = (
            b64url(json.dumps({**HEADER, "alg": "HS256"}).encode()) + "." + b64url(json.dumps(claims()).encode())
        )
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(InvalidToken, match="unsupported algorithm"):
            check(signing_input + "." + b64url(signature))


@pytest.mark.parametrize("alg", ["ES256", "RS256", "Ed25519", "eddsa", ""])
def test_only_eddsa_is_allowed(alg: str) -> None:
    with pytest.raises(InvalidToken, match="unsupported algorithm"):
        check(token(header={"alg": alg}))


@pytest.mark.parametrize(
    "extra", [{"jwk": {"kty": "OKP"}}, {"jku": "https://evil.example.com/jwks"}, {"crit": ["exp"]}]
)
def test_header_fields_that_could_point_at_a_key_are_rejected(extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken, match="malformed token header"):
        check(token(header=extra))


def test_unknown_kid() -> None:
    with pytest.raises(UnknownKey) as caught:
        check(token(header={"kid": "k9"}))
    assert caught.value.kid == "k9"


def test_a_different_key_with_a_known_kid_fails_the_signature() -> None:
    raw = encode_token(Ed25519PrivateKey.generate(), HEADER, claims())
    with pytest.raises(InvalidToken, match="bad signature"):
        check(raw)


def test_a_tampered_payload_fails_the_signature() -> None:
    header, _, signature = token().split(".")
    forged = b64url(json.dumps(claims(roles=["admin", "superuser"])).encode())
    with pytest.raises(InvalidToken, match="bad signature"):
        check(f"{header}.{forged}.{signature}")


def test_oversize_tokens_are_rejected_before_parsing() -> None:
    raw = token(username="a" * MAX_TOKEN_LENGTH)
    assert len(raw) > MAX_TOKEN_LENGTH
    with pytest.raises(InvalidToken, match=r"^malformed token$"):
        check(raw)


def test_only_canonical_unpadded_base64url() -> None:
    """One token, one spelling: a signature re-spelled with spare bits, padding or the other alphabet fails."""
    header, payload, signature = token().split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare_bit = alphabet[alphabet.index(signature[-1]) ^ 1]  # 64 bytes: the last character carries 2 spare bits
    variants = [
        f"{header}.{payload}.{signature[:-1]}{spare_bit}",
        f"{header}.{payload}.{signature}==",
        f"{header}.{payload}.{signature.replace('-', '+').replace('_', '/')}",
        f"{header}.{payload}.{signature} ",
        f"{header}.{payload}",
        f"{header}.{payload}.{signature}.x",
        f"{header}..{signature}",
    ]
    for raw in variants:
        if raw != f"{header}.{payload}.{signature}":  # a signature may have no - or _ to re-spell
            with pytest.raises(InvalidToken):
                check(raw)


@pytest.mark.parametrize(
    "bad",
    [{"sid": None}, {"exp": "soon"}, {"exp": 1.5e9}, {"roles": "admin"}, {"sub": 42}, {"email_verified": "yes"}],
)
def test_claims_of_the_wrong_shape_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken, match="malformed token claims"):
        check(token(**bad))


def test_unknown_claims_are_ignored() -> None:
    assert check(token(scope="openid", tenant="t1")).sub == "user-1"


def test_require_roles() -> None:
    result = check(token(roles=["user"]))
    require_roles(result, ("user",))
    with pytest.raises(Forbidden, match="admin"):
        require_roles(result, ("user", "admin"))
