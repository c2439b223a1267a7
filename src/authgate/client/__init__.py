"""authgate.client: verify authgate access tokens in the services behind the login.

Installed alone as the `authgate-client` distribution (in the repository: `pip install ./client`), which brings
none of the server's dependencies; the `authgate` server distribution contains it too. It imports no server code
and no web framework (only `authgate.client.flask` imports Flask, and `authgate.client.fastapi` imports FastAPI).

    from authgate.client import TokenVerifier, InvalidToken

    verifier = TokenVerifier("https://auth.example.com")      # audience "authgate" by default
    claims = verifier.verify(token)                           # or: await verifier.averify(token)
    claims.sub, claims.sid, claims.roles, claims.username

Verification is local (RFC 8725: EdDSA only, `typ` at+jwt, a known `kid`, issuer, audience, `exp`/`nbf`
with a small leeway), with the issuer's keys fetched from its discovery document and cached.
`TokenVerifier(..., introspect=True)` also asks authgate (RFC 7662) whether the token is still active, so a
logout is seen within `introspection_ttl` seconds instead of at token expiry.
`verify(token, keys, issuer=...)` is the same local check with no I/O, for keys you hold yourself.
"""

from authgate.client.errors import (
    AuthgateUnavailable,
    ClientError,
    ExpiredToken,
    Forbidden,
    InvalidToken,
    MissingToken,
    RevokedToken,
    UnknownKey,
)
from authgate.client.keys import KeySet, parse_jwks
from authgate.client.tokens import Claims, verify
from authgate.client.transport import HttpxTransport, Transport
from authgate.client.verifier import TokenVerifier

__all__ = [
    "AuthgateUnavailable",
    "Claims",
    "ClientError",
    "ExpiredToken",
    "Forbidden",
    "HttpxTransport",
    "InvalidToken",
    "KeySet",
    "MissingToken",
    "RevokedToken",
    "TokenVerifier",
    "Transport",
    "UnknownKey",
    "parse_jwks",
    "verify",
]
