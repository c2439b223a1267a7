"""The bearer transport: who is calling, from the `Authorization: Bearer <access token>` header."""

from __future__ import annotations

from authgate.domain.auth import Principal
from authgate.errors import InvalidAccessToken, MissingToken, NotAllowed, SecondFactorRequired
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
    """The caller, if they have `role`; for `admin` with AUTHGATE_ADMIN_REQUIRES_SECOND_FACTOR, only in a session
    started with two-step login or a passkey."""
    principal = await authenticate(req)
    if role not in principal.user.roles:
        raise NotAllowed(f"This needs the {role!r} role")
    if role == "admin" and req.services.settings.admin_requires_second_factor and "mfa" not in principal.session.amr:
        raise SecondFactorRequired()
    return principal
