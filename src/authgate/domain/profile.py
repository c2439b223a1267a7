"""What users change on their own account (besides the password, see `AuthService.change_password`).

Changing the email address needs the current password, then goes through `EmailFlows`: a link is mailed to
the new address, and the change takes effect (the address verified, the old one told) only when it is followed.

Deleting the account (GDPR's right to erasure) needs the password, and a code when two-step login is on: the
user, their sessions, authenticator and mailed links go at once (by cascade); the audit log keeps the username
of whom it deleted, and the address is told. The last admin cannot delete themselves.
"""

from __future__ import annotations

from authgate.domain.admin import is_active_admin, keep_an_admin
from authgate.domain.audit import DetailValue
from authgate.domain.auth import Principal
from authgate.domain.clients import NO_CLIENT, ClientInfo, client_event
from authgate.domain.clock import Clock
from authgate.domain.email_flows import EmailFlows, PendingEmailChange
from authgate.domain.mfa import SecondFactors
from authgate.domain.reauth import Reauthentication
from authgate.domain.users import check_email
from authgate.errors import FieldError, ValidationFailed
from authgate.storage.base import Database


class ProfileService:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        email: EmailFlows,
        reauth: Reauthentication,
        second_factors: SecondFactors | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.email = email
        self.reauth = reauth
        self.second_factors = second_factors

    async def change_email(
        self, principal: Principal, email: str, current_password: str, client: ClientInfo = NO_CLIENT
    ) -> PendingEmailChange:
        """Mail a confirmation link to the new address; nothing changes until it is followed."""
        errors: list[FieldError] = []
        address = check_email(email, errors)
        if errors:
            raise ValidationFailed(errors)
        await self.reauth.confirm(principal.user, current_password, client, "change_email", "current_password")
        return await self.email.request_email_change(principal.user, address, client)

    async def delete_account(self, principal: Principal, password: str, code: str, client: ClientInfo) -> None:
        """Delete the caller's account, with the password (field `password`) and, when two-step login is on, a
        code or recovery code (field `code`, behind the account's limit for codes). LastAdmin for the last admin."""
        user = principal.user
        await self.reauth.confirm(user, password, client, "delete_account")
        second = self.second_factors
        if second is not None and await second.required(user.id):
            if not code:
                raise ValidationFailed([FieldError("code", "is required: two-step sign in is on")])
            await second.verify(user, code, client, field="code")
        now = self.clock()
        async with self.db.transaction() as tx:
            if is_active_admin(user):
                await tx.users.lock_admins()
            await tx.users.delete(user.id)
            if is_active_admin(user):
                await keep_an_admin(tx)
            detail: dict[str, DetailValue] = {"username": user.username}
            await tx.audit.add(client_event("account_delete", client, now, user_id=user.id, detail=detail))
        self.email.account_deleted(user)
