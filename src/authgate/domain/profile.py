"""What users change on their own account (besides the password, see `AuthService.change_password`).

Changing the email address needs the current password, then goes through `EmailFlows`: a link is mailed to
the new address, and the change takes effect (the address verified, the old one told) only when it is followed.
"""

from __future__ import annotations

from authgate.domain.auth import Principal
from authgate.domain.clients import ClientInfo
from authgate.domain.clock import Clock
from authgate.domain.email_flows import EmailFlows, PendingEmailChange
from authgate.domain.passwords import HashPool, PasswordHasher
from authgate.domain.users import check_email
from authgate.errors import FieldError, ValidationFailed
from authgate.storage.base import Database


class ProfileService:
    def __init__(
        self, *, db: Database, hasher: PasswordHasher, pool: HashPool, clock: Clock, email: EmailFlows
    ) -> None:
        self.db = db
        self.hasher = hasher
        self.pool = pool
        self.clock = clock
        self.email = email

    async def change_email(
        self, principal: Principal, email: str, current_password: str, client: ClientInfo | None = None
    ) -> PendingEmailChange:
        """Mail a confirmation link to the new address; nothing changes until it is followed."""
        errors: list[FieldError] = []
        address = check_email(email, errors)
        if errors:
            raise ValidationFailed(errors)
        ok, _ = await self.pool.run(self.hasher.verify, principal.user.password_hash, current_password)
        if not ok:
            raise ValidationFailed([FieldError("current_password", "is not your current password")])
        return await self.email.request_email_change(principal.user, address, client or ClientInfo())
