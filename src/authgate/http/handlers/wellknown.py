"""/.well-known/*: the public keys and the discovery document a JWT library needs to verify our tokens."""

from __future__ import annotations

from typing import Any

from authgate.http.operations import operation
from authgate.http.request import Request
from authgate.http.responses import JSON, Response, encode
from authgate.http.schemas import JwksResponse


@operation("Public signing keys (JWKS)", tag="discovery", response=JwksResponse)
async def jwks(req: Request) -> Response:
    await req.services.fresh_keyring()
    body = encode({"keys": req.services.tokens.keyring.jwks})
    return Response(200, body, [("content-type", JSON), ("cache-control", "public, max-age=60")])


@operation("Discovery document", tag="discovery", response=dict[str, Any])
async def openid_configuration(req: Request) -> Response:
    issuer = req.services.settings.issuer.rstrip("/")
    document = {
        "issuer": req.services.settings.issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/auth/login",
        "introspection_endpoint": f"{issuer}/auth/introspect",
        "userinfo_endpoint": f"{issuer}/auth/me",
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["none"],
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }
    return Response(200, encode(document), [("content-type", JSON), ("cache-control", "public, max-age=300")])
