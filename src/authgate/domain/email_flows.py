"""The email flows: verify an address, reset a forgotten password, change the address (confirmed by the new
one, the old one told), sign in with a link (AUTHGATE_EMAIL_LOGIN), and tell the owner of an address that
someone tried to register it again.

    register ──▶ mail "verify_email" ──link──▶ verify_email(token)             email_verified = true
    forgot_password(email) ──▶ mail "reset_password" ──link──▶ reset_password(token, new password)
                                                 new password, every session ended, in one transaction
    request_email_change(user, new) ──▶ mail "confirm_email_change" to the new address
                                     ──link──▶ confirm_email_change(token) ──▶ mail "email_changed" to the old
    send_login_link(email) ──▶ mail "login_link" ──link──▶ redeem_login_link(token) ──▶ AuthService's session
    an admin's send_password_link(user) ──▶ mail "invitation" (no password yet) or "reset_password"
                                     ──link──▶ reset_password(token, new password), as above

Mail is never sent from a request: the use case commits, then submits a job to the outbox. The anonymous
entry points (`forgot_password`, `send_login_link`, `resend_verification_to`) only validate the address and
submit a job that does everything else (the look-up, the token, the mail) in the background, so their answer
and its timing are the same whether or not an account has that address; for an unknown address no mail goes
out at all.

A token is refused (400 invalid_token, the reason only logged) when it is unknown, of another purpose, used,
expired, for a disabled or deleted user, or mailed to an address the account no longer has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

import msgspec

from authgate.domain.audit import AuditEvent
from authgate.domain.clients import NO_CLIENT, ClientInfo, client_event
from authgate.domain.clock import Clock
from authgate.domain.email_tokens import (
    EmailToken,
    Purpose,
    RefusedToken,
    hash_email_token,
    new_email_token,
    plausible,
)
from authgate.domain.mail import MailMessage, MailTemplates, Outbox
from authgate.domain.passkeys import PasskeyChange
from authgate.domain.passwords import HashPool, PasswordHasher, check_new_password
from authgate.domain.totp import SecondFactorChange
from authgate.domain.users import User, check_email, email_key
from authgate.errors import EmailAlreadyVerified, EmailTaken, FieldError, ValidationFailed
from authgate.storage.base import Database, Stores


class EmailPolicy(msgspec.Struct, frozen=True, kw_only=True):
    base_url: str
    """Where the links point (the issuer): `{base_url}/verify-email?token=...`."""
    verification_ttl: int = 86400
    """Links that verify an address: after registration, and to confirm a new one."""
    reset_ttl: int = 1800
    invitation_ttl: int = 7 * 86400
    """The link mailed to an account an admin made without a password."""
    login_ttl: int = 900
    """Sign-in links (when AUTHGATE_EMAIL_LOGIN is on)."""
    reject_common_passwords: bool = True
    hide_account_existence: bool = False


class PendingEmailChange(msgspec.Struct, frozen=True):
    email: str
    """The new address, which takes effect when the link mailed to it is followed."""


def human_duration(seconds: int) -> str:
    """1800 → "30 minutes", 86400 → "24 hours", 604800 → "7 days"."""
    for unit, size, most in (("hour", 3600, 48), ("day", 86400, None), ("minute", 60, None)):
        count, rest = divmod(seconds, size)
        if count and not rest and (most is None or count <= most):
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


class EmailFlows:
    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        templates: MailTemplates,
        hasher: PasswordHasher,
        pool: HashPool,
        policy: EmailPolicy,
        clock: Clock,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.templates = templates
        self.hasher = hasher
        self.pool = pool
        self.policy = policy
        self.clock = clock
        self.base_url = policy.base_url.rstrip("/")
        self.site = urlsplit(policy.base_url).netloc

    # -- verification --------------------------------------------------------------------------------------

    def send_verification(self, user: User) -> None:
        """After registration (committed): mail the user a link to verify the address."""
        self.outbox.submit(lambda: self._verification_mail(user_id=user.id), "verify_email")

    def resend_verification(self, user: User) -> None:
        """For the signed-in user; EmailAlreadyVerified (409) when there is nothing to verify."""
        if user.email_verified:
            raise EmailAlreadyVerified()
        self.send_verification(user)

    def resend_verification_to(self, email: str) -> None:
        """Anonymous: the same (absence of) answer whether or not an unverified account has this address."""
        key = _address_key(email)
        self.outbox.submit(lambda: self._verification_mail(key=key), "verify_email")

    async def _verification_mail(self, *, user_id: str | None = None, key: str | None = None) -> list[MailMessage]:
        async with self.db.reader() as r:
            user = await r.users.get(user_id) if user_id is not None else await r.users.get_by_login(key or "")
        if user is None or user.disabled or user.email_verified or (key is not None and user.email_key != key):
            return []
        token = await self._issue(user, "verify_email", user.email, self.policy.verification_ttl)
        return [self._mail("verify_email", user.email, user, "/verify-email", token, self.policy.verification_ttl)]

    async def verify_email(self, token: str, client: ClientInfo = NO_CLIENT) -> User:
        token_hash = _hash(token)
        now = self.clock()
        async with self.db.transaction() as tx:
            record, user = await _redeemable(tx, token_hash, "verify_email", now, lock=True)
            _check_address(record, user)
            await tx.email_tokens.use(token_hash, now)
            await tx.email_tokens.revoke(user.id, ("verify_email",), now)
            if not user.email_verified:
                user.email_verified = True
                user.updated_at = now
                await tx.users.update(user)
            await tx.audit.add(client_event("email_verification", client, now, user_id=user.id))
        return user

    # -- password reset ------------------------------------------------------------------------------------

    def forgot_password(self, email: str, client: ClientInfo = NO_CLIENT) -> None:
        """Anonymous: validates the address, then everything else happens in the background (see the module)."""
        key = _address_key(email)
        self.outbox.submit(lambda: self._reset_mail(key, client), "reset_password")

    async def _reset_mail(self, key: str, client: ClientInfo) -> list[MailMessage]:
        user = await self._active_account(key)
        if user is None:
            return []
        event = client_event("password_reset_request", client, self.clock(), user_id=user.id)
        token = await self._issue(user, "reset_password", user.email, self.policy.reset_ttl, event)
        return [self._mail("reset_password", user.email, user, "/reset-password", token, self.policy.reset_ttl)]

    async def reset_password(self, token: str, new_password: str, client: ClientInfo = NO_CLIENT) -> User:
        """Sets the new password (the registration policy applies: 422 leaves the link usable), verifies the
        address the link was mailed to, cancels a pending email change, and ends every session of the user,
        all in one transaction."""
        token_hash = _hash(token)
        async with self.db.reader() as r:
            record, user = await _redeemable(r, token_hash, "reset_password", self.clock(), lock=False)
        _check_address(record, user)
        errors: list[FieldError] = []
        check_new_password(
            new_password,
            errors,
            reject_common=self.policy.reject_common_passwords,
            personal=(user.username, user.email),
            field="new_password",
        )
        if errors:
            raise ValidationFailed(errors)
        password_hash = await self.pool.run(self.hasher.hash, new_password)
        now = self.clock()
        async with self.db.transaction() as tx:
            record, user = await _redeemable(tx, token_hash, "reset_password", now, lock=True)
            _check_address(record, user)
            user.password_hash = password_hash
            user.email_verified = True
            user.updated_at = now
            await tx.users.update(user)
            await tx.email_tokens.use(token_hash, now)
            await tx.email_tokens.revoke(user.id, ("reset_password", "change_email"), now)
            ended = await tx.sessions.end_all_for_user(user.id, now)
            await tx.audit.add(
                client_event("password_reset", client, now, user_id=user.id, detail={"sessions_ended": ended})
            )
        return user

    # -- links an admin sends: invitations and password resets ---------------------------------------------

    def send_password_link(self, user: User, actor_id: str | None, client: ClientInfo = NO_CLIENT) -> None:
        """`UserAdmin.on_password_link`: mail `user` a link to choose a password. An account that has none yet
        gets the invitation (valid `invitation_ttl`), any other a reset link; both are reset tokens, so following
        one sets the password, verifies the address and ends every session."""
        self.outbox.submit(lambda: self._password_link_mail(user.id, actor_id, client), "password_link")

    async def _password_link_mail(self, user_id: str, actor_id: str | None, client: ClientInfo) -> list[MailMessage]:
        async with self.db.reader() as r:
            user = await r.users.get(user_id)
        if user is None or user.disabled:  # deleted or disabled since the admin asked
            return []
        invitation = not user.has_password
        name, ttl = "reset_password", self.policy.reset_ttl
        if invitation:
            name, ttl = "invitation", self.policy.invitation_ttl
        event = client_event(
            "password_reset_request",
            client,
            self.clock(),
            user_id=user.id,
            actor_id=actor_id,
            detail={"invitation": invitation},
        )
        token = await self._issue(user, "reset_password", user.email, ttl, event)
        return [self._mail(name, user.email, user, "/reset-password", token, ttl)]

    # -- sign-in links ------------------------------------------------------------------------------------

    def send_login_link(self, email: str, client: ClientInfo = NO_CLIENT, *, then: str | None = None) -> None:
        """Anonymous, as `forgot_password`: validates the address, then mails a sign-in link in the background, only
        when an enabled account has that address (the caller answers the same either way). `then`: a path on this
        site (checked by the caller) that the link's page goes to once signed in."""
        key = _address_key(email)
        self.outbox.submit(lambda: self._login_mail(key, client, then), "login_link")

    async def _login_mail(self, key: str, client: ClientInfo, then: str | None) -> list[MailMessage]:
        user = await self._active_account(key)
        if user is None:
            return []
        event = client_event("login_link_request", client, self.clock(), user_id=user.id)
        token = await self._issue(user, "login", user.email, self.policy.login_ttl, event)
        ttl = self.policy.login_ttl
        return [self._mail("login_link", user.email, user, "/login/email/verify", token, ttl, then=then)]

    async def redeem_login_link(self, token: str) -> User:
        """The user a sign-in link was mailed to, the link used up; the address is verified (it got the link).
        RefusedToken (400 invalid_token) when it is unknown, used, expired or for an address the account no longer
        has."""
        token_hash = _hash(token)
        now = self.clock()
        async with self.db.transaction() as tx:
            record, user = await _redeemable(tx, token_hash, "login", now, lock=True)
            _check_address(record, user)
            await tx.email_tokens.use(token_hash, now)
            if not user.email_verified:
                user.email_verified = True
                user.updated_at = now
                await tx.users.update(user)
        return user

    # -- email change --------------------------------------------------------------------------------------

    async def request_email_change(
        self, user: User, address: str, client: ClientInfo = NO_CLIENT
    ) -> PendingEmailChange:
        """After the caller checked the current password: mail a confirmation link to the new address
        (`address`, already normalised). Nothing changes until the link is followed."""
        key = email_key(address)
        if key == user.email_key:
            raise ValidationFailed([FieldError("email", "is already your email address")])
        async with self.db.reader() as r:
            owner = await r.users.get_by_login(key)
        if owner is not None:
            if self.policy.hide_account_existence:
                return PendingEmailChange(address)  # the same answer; nothing is sent
            raise EmailTaken()
        event = client_event("email_change_request", client, self.clock(), user_id=user.id)
        token = await self._issue(user, "change_email", address, self.policy.verification_ttl, event)
        ttl = self.policy.verification_ttl
        self._post(
            "confirm_email_change",
            lambda: self._mail(
                "confirm_email_change", address, user, "/confirm-email-change", token, ttl, new_email=address
            ),
        )
        return PendingEmailChange(address)

    async def confirm_email_change(self, token: str, client: ClientInfo = NO_CLIENT) -> User:
        """The new address takes effect (verified: the link proved it), the links mailed to the old one stop
        working, and the old address is told. EmailTaken (409) when someone registered it meanwhile."""
        token_hash = _hash(token)
        now = self.clock()
        async with self.db.transaction() as tx:
            record, user = await _redeemable(tx, token_hash, "change_email", now, lock=True)
            old = user.email
            user.email = record.email
            user.email_verified = True
            user.updated_at = now
            await tx.users.update(user)
            await tx.email_tokens.use(token_hash, now)
            await tx.email_tokens.revoke(user.id, ("verify_email", "reset_password", "change_email"), now)
            await tx.audit.add(client_event("email_change", client, now, user_id=user.id))
        new = user.email
        self._post(
            "email_changed", lambda: self._mail("email_changed", old, user, None, None, 0, old_email=old, new_email=new)
        )
        return user

    # -- someone registered a taken address (AUTHGATE_HIDE_ACCOUNT_EXISTENCE) ---------------------------------

    async def existing_account(self, owner: User, client: ClientInfo = NO_CLIENT) -> None:
        """`AuthService.on_existing_account`: tell the owner, who can reset the password if it was them."""
        forgot = f"{self.base_url}/forgot-password"
        self._post(
            "account_exists",
            lambda: self._mail("account_exists", owner.email, owner, None, None, 0, forgot_password_url=forgot),
        )

    # -- two-step sign in changed (domain/mfa.py) ---------------------------------------------------------

    def second_factor_changed(self, user: User, change: SecondFactorChange) -> None:
        """`SecondFactors.on_changed`: tell the user that two-step sign in was turned on or off (by them or an
        admin: `reset`), or that new recovery codes were made, in case it was not them."""
        name = "second_factor_changed"
        self._post(name, lambda: self._mail(name, user.email, user, None, None, 0, change=change))

    def passkey_changed(self, user: User, change: PasskeyChange, passkey_name: str) -> None:
        """`Passkeys.on_changed`: tell the user that a passkey was added to or removed from their account."""
        name = "passkey_changed"
        self._post(
            name, lambda: self._mail(name, user.email, user, None, None, 0, change=change, passkey_name=passkey_name)
        )

    # -- the account was deleted (domain/profile.py) ------------------------------------------------------

    def account_deleted(self, user: User) -> None:
        """Tell the address of a deleted account, in case it was not its owner."""
        self._post("account_deleted", lambda: self._mail("account_deleted", user.email, user, None, None, 0))

    async def usable(self, token: str, purpose: Purpose) -> bool:
        """Whether `token` would be accepted for `purpose` now, without using it (the pages ask before showing
        a form, so that an expired link says so at once)."""
        if not plausible(token):
            return False
        try:
            async with self.db.reader() as r:
                record, user = await _redeemable(r, hash_email_token(token), purpose, self.clock(), lock=False)
        except RefusedToken:
            return False
        return purpose == "change_email" or record.mailed_to(user.email)

    # -- helpers -------------------------------------------------------------------------------------------

    async def _active_account(self, key: str) -> User | None:
        """The enabled account whose address is `key` (an email key; not a username that looks like one)."""
        async with self.db.reader() as r:
            user = await r.users.get_by_login(key)
        return None if user is None or user.disabled or user.email_key != key else user

    async def _issue(self, user: User, purpose: Purpose, email: str, ttl: int, event: AuditEvent | None = None) -> str:
        """A new token (replacing the user's older ones of `purpose`), committed before it is mailed."""
        token = new_email_token()
        now = self.clock()
        record = EmailToken(
            token_hash=hash_email_token(token),
            purpose=purpose,
            user_id=user.id,
            email=email,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
        async with self.db.transaction() as tx:
            await tx.email_tokens.replace(record)
            if event is not None:
                await tx.audit.add(event)
        return token

    def _post(self, name: str, build: Callable[[], MailMessage]) -> None:
        """Submit a mail that needs no database work; it is rendered in the background too."""

        async def job() -> Sequence[MailMessage]:
            return [build()]

        self.outbox.submit(job, name)

    def _mail(
        self,
        name: str,
        to: str,
        user: User,
        path: str | None,
        token: str | None,
        ttl: int,
        *,
        then: str | None = None,
        **extra: object,
    ) -> MailMessage:
        link = None
        if path is not None and token is not None:
            link = f"{self.base_url}{path}?token={token}"
            if then:
                link += "&next=" + quote(then, safe="/")
        context: dict[str, object] = {
            "username": user.username,
            "site": self.site,
            "base_url": self.base_url,
            "link": link or "",
            "expires_in": human_duration(ttl) if ttl else "",
            **extra,
        }
        return self.templates.render(name, to, context, link)


def _address_key(email: str) -> str:
    errors: list[FieldError] = []
    address = check_email(email, errors)
    if errors:
        raise ValidationFailed(errors)
    return email_key(address)


def _hash(token: str) -> bytes:
    if not plausible(token):
        raise RefusedToken("malformed")
    return hash_email_token(token)


async def _redeemable(
    stores: Stores, token_hash: bytes, purpose: Purpose, now: datetime, *, lock: bool
) -> tuple[EmailToken, User]:
    """The token and its user, or RefusedToken; `lock` (in a transaction) holds the token until it ends."""
    record = await (stores.email_tokens.lock(token_hash) if lock else stores.email_tokens.get(token_hash))
    if record is None:
        raise RefusedToken("unknown")
    problem = record.problem(purpose, now)
    if problem is not None:
        raise RefusedToken(problem)
    user = await stores.users.get(record.user_id)
    if user is None or user.disabled:
        raise RefusedToken("account_unavailable")
    return record, user


def _check_address(record: EmailToken, user: User) -> None:
    if not record.mailed_to(user.email):
        raise RefusedToken("address_changed")
