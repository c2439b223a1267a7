"""The login guard: whether a login attempt may have its password checked at all, and what its outcome does.

    attempt without a (valid) device token        attempt with a valid device token of the account
      per-account limit (login:account)             the device's own back-off
      the account's back-off                        (when the device is backed off: as without a token)
    -> 429 rate_limited with Retry-After, before any hashing
    the back-off counts the attempt when it admits it (on the account, or on the trusted device)
    success: resets the account's and the device's failures; a new device token is issued

A second factor's code (`domain/mfa.py`) has a limit and a back-off of its own, per account (`second_factor`):
a wrong code counts there as a wrong password counts here, and a right one resets it (`passed`). So has the
password a signed-in user is asked again before a change that matters (`current_password`, domain/reauth.py).

The per-IP limit comes before all this, in the handler, before the body is even read. Every decision here
depends only on the login *as typed* (normalised), never on whether the account exists, so the guard's
answers cannot be used to enumerate accounts. See docs/abuse.md for the policy and its reasoning.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from authgate.domain.audit import AuditEvent, DetailValue
from authgate.domain.clients import ClientInfo, client_event
from authgate.domain.clock import Clock
from authgate.domain.devices import DeviceTokens, KnownDevice
from authgate.domain.ratelimits import Backoff, BackoffPolicy, RateLimits, account_key, retry_after
from authgate.domain.users import User


class Attempt(msgspec.Struct):
    account: str
    """The account's back-off key (a digest of the login as typed)."""
    claimed: KnownDevice | None
    """The device token presented, if shaped like one (not yet checked)."""
    device: KnownDevice | None = None
    """The device token, once found valid for the account and not backed off."""
    attempts: int = 0
    """The attempts counted by the back-off under the key this one was admitted by, this one included."""


class LoginGuard:
    def __init__(
        self,
        limits: RateLimits,
        backoff: Backoff | None,
        policy: BackoffPolicy,
        devices: DeviceTokens,
        clock: Clock,
    ) -> None:
        self.limits = limits
        self.backoff = backoff
        self.policy = policy
        self.devices = devices
        self.clock = clock

    def _now(self) -> float:
        return self.clock().timestamp()

    async def begin(self, login_key: str, device_token: str | None) -> Attempt:
        """Before the user is looked up: gate an attempt that brings no device token at once (saving the look-up)."""
        attempt = Attempt(account="login:" + account_key(login_key), claimed=DeviceTokens.parse(device_token))
        if attempt.claimed is None:
            await self._gate(login_key, attempt)
        return attempt

    async def admit(self, attempt: Attempt, login_key: str, user: User | None) -> None:
        """After the look-up: trust the device token if it is valid for this account and not backed off
        itself; otherwise gate the attempt like one without a token."""
        claimed = attempt.claimed
        if claimed is None:
            return
        if user is not None and self.devices.is_valid_for(claimed, user):
            if self.backoff is None:
                attempt.device = claimed
                return
            admission = await self.backoff.acquire(claimed.key, self._now())
            if admission.wait == 0:
                attempt.device, attempt.attempts = claimed, admission.attempts
                return
        await self._gate(login_key, attempt)

    async def _gate(self, login_key: str, attempt: Attempt) -> None:
        await self.limits.hit("login", account=login_key)
        if self.backoff is not None:
            admission = await self.backoff.acquire(attempt.account, self._now())
            if admission.wait > 0:
                raise retry_after(admission.wait)
            attempt.attempts = admission.attempts

    async def second_factor(self, user_id: str) -> Attempt:
        """Before a code of the user's second factor is checked: the account's limit (`mfa:account`) and its
        back-off for codes, which the attempt is counted on."""
        return await self._per_user("mfa", user_id)

    async def current_password(self, user_id: str) -> Attempt:
        """Before a signed-in user's password is checked again (domain/reauth.py): the account's limit
        (`password:account`) and a back-off of its own, apart from the login's."""
        return await self._per_user("password", user_id)

    async def _per_user(self, endpoint: str, user_id: str) -> Attempt:
        await self.limits.hit(endpoint, account=user_id)
        attempt = Attempt(account=f"{endpoint}:" + account_key(user_id), claimed=None)
        if self.backoff is not None:
            admission = await self.backoff.acquire(attempt.account, self._now())
            if admission.wait > 0:
                raise retry_after(admission.wait)
            attempt.attempts = admission.attempts
        return attempt

    async def passed(self, attempt: Attempt) -> None:
        """A right code (or password, asked again): forget the wrong ones before it."""
        if self.backoff is not None:
            await self.backoff.reset(attempt.account)

    def engaged(self, attempt: Attempt) -> bool:
        """Whether this attempt, having failed, is the one that makes the next ones wait (a lockout event)."""
        return self.backoff is not None and attempt.attempts == self.policy.threshold

    def lockout(
        self, attempt: Attempt | None, client: ClientInfo, user_id: str | None, detail: Mapping[str, DetailValue]
    ) -> AuditEvent | None:
        """The `lockout` event to audit beside a failure (of a login, a code, a password asked again) when that
        failure is the one that engaged the back-off; None otherwise. Its detail: `attempts`, then `detail`."""
        if attempt is None or not self.engaged(attempt):
            return None
        detail = {"attempts": attempt.attempts, **detail}
        return client_event("lockout", client, self.clock(), user_id=user_id, outcome="failure", detail=detail)

    async def succeeded(self, attempt: Attempt, user: User) -> str:
        """Reset the failures the attempt was counted under; the device token to give the client."""
        if self.backoff is not None:
            await self.backoff.reset(attempt.account)
            if attempt.device is not None:
                await self.backoff.reset(attempt.device.key)
        return self.devices.issue(user)
