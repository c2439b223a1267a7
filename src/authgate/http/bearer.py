"""The bearer transport: who is calling, from the `Authorization: Bearer <access token>` header."""

from __future__ import annotations

from authgate.domain.auth import Principal
from authgate.errors import InvalidAccessToken, MissingToken, NotAllowed
from authgate.http.request import Request


def bearer_token(req: Request) -> str:
    header = req.headers.get("authorization")
    if not header:
        raise MissingToken()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidAccessToken("expected: Authorization: Bearer <access token>")
    return token.strip()


async def authenticate(req: Request) -> Principal:
    principal = await req.services.auth.authenticate(bearer_token(req))
    req.user_id = principal.user.id
    return principal


async def require_role(req: Request, role: str) -> Principal:
    principal = await authenticate(req)
    if role not in principal.user.roles:
        raise NotAllowed(f"This needs the {role!r} role")
    return principal
