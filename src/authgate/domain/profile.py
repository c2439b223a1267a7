"""What users change on their own account (besides the password, see `AuthService.change_password`).

Changing the email address needs the current password, and the new address is not verified. Today the change
takes effect at once; confirming it by a mail to the new address first fits in `change_email` (record the
pending address, send the mail, apply it when the link comes back) without changing its callers.
"""

from __future__ import annotations

from authgate.domain.auth import Principal
from authgate.domain.clock import Clock
from authgate.domain.passwords import HashPool, PasswordHasher
from authgate.domain.users import User, check_email
from authgate.errors import FieldError, SessionEnded, ValidationFailed
from authgate.storage.base import Database


class ProfileService:
    def __init__(self, *, db: Database, hasher: PasswordHasher, pool: HashPool, clock: Clock) -> None:
        self.db = db
        self.hasher = hasher
        self.pool = pool
        self.clock = clock

    async def change_email(self, principal: Principal, email: str, current_password: str) -> User:
        errors: list[FieldError] = []
        address = check_email(email, errors)
        if errors:
            raise ValidationFailed(errors)
        ok, _ = await self.pool.run(self.hasher.verify, principal.user.password_hash, current_password)
        if not ok:
            raise ValidationFailed([FieldError("current_password", "is not your current password")])
        async with self.db.transaction() as tx:
            user = await tx.users.get(principal.user.id)
            if user is None or user.disabled:
                raise SessionEnded()
            if address != user.email:
                user.email = address
                user.email_verified = False
                user.updated_at = self.clock()
                await tx.users.update(user)
        return user
