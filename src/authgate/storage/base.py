"""The storage seams: one small Protocol per aggregate, and the database that hands them out.

The use case owns the transaction: it opens one with `Database.transaction()` and calls the stores bound to
it; nothing here commits on its own. `Database.reader()` gives the same stores outside a transaction for
reads (and `Database.replica()` for reads that tolerate replication lag), and `Database.writer()` for a hot
path whose writes are each atomic on their own (a refresh).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

import msgspec

from authgate.domain.audit import AuditEvent, AuditPage, AuditQuery
from authgate.domain.email_tokens import EmailToken, Purpose
from authgate.domain.keys import StoredKey
from authgate.domain.sessions import RefreshToken, Session
from authgate.domain.totp import TotpFactor
from authgate.domain.users import User

if TYPE_CHECKING:
    from authgate.domain.passkeys import Passkey  # that module builds on this one

UserSort = Literal["created_at", "-created_at", "username"]


class UserPage(msgspec.Struct, frozen=True):
    users: list[User]
    has_more: bool
    two_step: frozenset[str] = frozenset()
    """The ids of the page's users who have two-step login on (a confirmed authenticator)."""


class UserQuery(msgspec.Struct, frozen=True, kw_only=True):
    limit: int = 50
    sort: UserSort = "created_at"
    after: tuple[str, str] | None = None
    """Keyset position: the last row seen, as (its username key, or its created_at in integer microseconds
    since the epoch, as a string; its id)."""
    prefix: str | None = None
    """Matches the start of the username key or of the email key (both case-folded)."""
    role: str | None = None


class UserStore(Protocol):
    async def add(self, user: User) -> None:
        """Insert; raises UsernameTaken / EmailTaken on a unique-key clash (including a race)."""

    async def add_many(self, users: Sequence[User]) -> list[str]:
        """Insert each user whose username key and email key are both free (also of the users before it in
        `users`) and skip the others, race-safe; the ids of those inserted. For imports: one call per batch."""

    async def get(self, user_id: str) -> User | None: ...

    async def get_by_login(self, key: str) -> User | None:
        """The user whose username key or email key is `key`."""

    async def get_for_login(self, key: str) -> tuple[User, bool] | None:
        """`get_by_login`'s user, and whether their login asks for a code (a confirmed authenticator): what a
        password login reads, in one round trip."""

    async def update(self, user: User) -> None:
        """Write every mutable field of `user` back; raises EmailTaken on a clash."""

    async def delete(self, user_id: str) -> bool: ...

    async def count_admins(self) -> int:
        """Admins that are not disabled."""

    async def lock_admins(self) -> None:
        """Serialise changes that may remove an admin (so that the last one cannot be removed by two
        concurrent changes) until the transaction ends; take it before reading what the change depends on."""

    async def page(self, query: UserQuery) -> UserPage: ...


class SessionStore(Protocol):
    async def add(self, session: Session, first_token: RefreshToken, event: AuditEvent | None = None) -> None:
        """The session with its first refresh token, and the audit `event` of the login that started it, as one
        atomic call (one statement where `Database.writer()` has no transaction: a login's one round trip)."""

    async def get(self, session_id: str) -> Session | None: ...

    async def get_with_user(self, session_id: str) -> tuple[Session, User] | None:
        """The session and its user in one round trip: the hot path of every authenticated request."""

    async def list_for_user(self, user_id: str, now: datetime) -> list[Session]:
        """The user's active sessions, newest first."""

    async def lock_token(self, token_hash: bytes) -> tuple[RefreshToken, Session, User] | None:
        """The refresh token with its session and user, in one round trip, locked against concurrent rotation
        until the transaction ends."""

    async def get_token(self, token_hash: bytes) -> RefreshToken | None: ...

    async def rotate_current(
        self, token_hash: bytes, successor_hash: bytes, now: datetime, expires_at: datetime
    ) -> tuple[Session, User] | None:
        """A refresh's common case, as one atomic call (one statement where `Database.writer()` has no
        transaction): if the token is `rotatable`, mark it rotated (pointing at its successor), store the successor
        (expiring at `expires_at`, or when its session does if that is sooner) and touch the session; answer the
        session (as it was read) and the user. None, with nothing written, when the token is unknown or not
        rotatable, a concurrent rotation that got there first included."""

    async def end(self, session_id: str, now: datetime) -> bool:
        """End one session; False if it was not active."""

    async def end_all_for_user(self, user_id: str, now: datetime, keep: str | None = None) -> int: ...

    async def delete_expired(self, now: datetime, limit: int) -> int:
        """Delete at most `limit` sessions that expired or ended at or before `now`, with their refresh tokens
        and browser cookies; how many sessions."""

    async def count_active(self, now: datetime) -> int:
        """Sessions not ended and not past their absolute expiry (the active-sessions metric)."""


class KeyStore(Protocol):
    async def lock(self) -> None:
        """Serialise key creation and rotation across every worker and instance until the transaction ends."""

    async def list(self) -> list[StoredKey]: ...

    async def add(self, key: StoredKey) -> None: ...

    async def retire(self, kid: str, at: datetime) -> None: ...

    async def get_secret(self, name: str) -> bytes | None: ...

    async def add_secret(self, name: str, value: bytes, now: datetime) -> None: ...


class AuditStore(Protocol):
    async def add(self, *events: AuditEvent) -> None:
        """One or more events, as one atomic call (one statement where `Database.writer()` has no transaction: a
        failed login's one round trip)."""

    async def page(self, query: AuditQuery) -> AuditPage:
        """Newest first (by id, which is time-ordered), after `query.before` when given."""

    async def delete_before(self, at: datetime, limit: int) -> int:
        """Delete at most `limit` of the events that happened before `at`, oldest first (retention); how many."""


class EmailTokenStore(Protocol):
    """The tokens of the mailed links (`domain/email_tokens.py`), by the SHA-256 of the token."""

    async def replace(self, token: EmailToken) -> None:
        """Delete the user's tokens of `token.purpose` (used or not), then store `token`; concurrent replaces
        for one user are serialised (only the last one's token remains)."""

    async def get(self, token_hash: bytes) -> EmailToken | None: ...

    async def lock(self, token_hash: bytes) -> EmailToken | None:
        """The token, locked against concurrent use until the transaction ends."""

    async def use(self, token_hash: bytes, now: datetime) -> None:
        """Mark the token used."""

    async def revoke(self, user_id: str, purposes: tuple[Purpose, ...], now: datetime) -> int:
        """Mark the user's unused tokens of `purposes` used; how many."""


class BrowserSessionStore(Protocol):
    """The cookies of signed-in browsers (`domain/browser.py`), by the SHA-256 of the cookie value; each is
    bound to one session, whose `last_used_at` and `expires_at` are the cookie's idle and absolute clocks."""

    async def add(self, token_hash: bytes, session_id: str, now: datetime) -> None: ...

    async def get(self, token_hash: bytes) -> tuple[Session, User] | None:
        """The cookie's session (active or not) and its user, in one round trip: every page view asks."""

    async def touch(self, session_id: str, now: datetime) -> None:
        """Set the session's `last_used_at` to `now`."""

    async def session_ids(self, user_id: str) -> set[str]:
        """The ids of the user's sessions that are not ended and that a browser holds."""


class MfaStore(Protocol):
    """The second factors (`domain/mfa.py`): at most one TOTP authenticator per user, and its recovery codes
    (by their SHA-256)."""

    async def get(self, user_id: str) -> TotpFactor | None: ...

    async def put(self, factor: TotpFactor) -> None:
        """Store the user's authenticator in place of the one there, if any."""

    async def confirm(self, user_id: str, created_at: datetime, step: int, now: datetime) -> bool:
        """Mark the user's authenticator confirmed with the code of `step`, atomically, and only if it is still the
        unconfirmed one made at `created_at`: False when it was replaced, removed or confirmed meanwhile."""

    async def advance(self, user_id: str, step: int) -> bool:
        """Record that the code of `step` was used, atomically, and only if no code of `step` or later was: False
        when one was (a replayed code, or a race lost to the same code)."""

    async def delete(self, user_id: str) -> bool:
        """Remove the user's authenticator and recovery codes; False if there was no authenticator."""

    async def replace_recovery_codes(self, user_id: str, digests: Sequence[bytes], now: datetime) -> None:
        """The user's recovery codes become these (unused), and only these."""

    async def use_recovery_code(self, user_id: str, digest: bytes, now: datetime) -> bool:
        """Mark the user's unused recovery code `digest` used, atomically: False if there is none such."""

    async def recovery_codes_left(self, user_id: str) -> int: ...


class PasskeyStore(Protocol):
    """Passkeys (`domain/passkeys.py`), and the digests of the challenges already answered."""

    async def add(self, passkey: Passkey) -> bool:
        """False (and nothing stored) when its credential id is registered already."""

    async def list_for_user(self, user_id: str) -> list[Passkey]:
        """Oldest first."""

    async def get_by_credential(self, credential_id: bytes) -> Passkey | None: ...

    async def used(self, passkey_id: str, sign_count: int, backed_up: bool, now: datetime) -> bool:
        """Record a login with the passkey, atomically, and only if `sign_count` moved its counter forward (or both
        are 0: an authenticator that keeps none): False when another login got there first."""

    async def rename(self, user_id: str, passkey_id: str, name: str) -> Passkey | None:
        """Rename the user's passkey; the passkey renamed, or None when the user has no such passkey."""

    async def delete(self, user_id: str, passkey_id: str) -> Passkey | None:
        """Remove the user's passkey; the one removed, or None when the user has no such passkey."""

    async def spend_challenge(self, digest: bytes, expires_at: datetime) -> bool:
        """Record a challenge as answered, atomically: False when it was already."""

    async def delete_spent_challenges(self, now: datetime, limit: int) -> int:
        """Forget at most `limit` answered challenges that expired by `now`; how many."""


class Stores(Protocol):
    """The stores, bound to one connection (and, in `transaction()`, to one transaction)."""

    @property
    def users(self) -> UserStore: ...

    @property
    def sessions(self) -> SessionStore: ...

    @property
    def keys(self) -> KeyStore: ...

    @property
    def audit(self) -> AuditStore: ...

    @property
    def browser_sessions(self) -> BrowserSessionStore: ...

    @property
    def email_tokens(self) -> EmailTokenStore: ...

    @property
    def mfa(self) -> MfaStore: ...

    @property
    def passkeys(self) -> PasskeyStore: ...


class ChangeListener(Protocol):
    """Told whose account or sessions changed (the session cache); `live` while it is told everything."""

    live: bool

    def forget_user(self, user_id: str) -> None: ...

    def forget_all(self) -> None: ...


class ChangeFeed(Protocol):
    def start(self) -> None:
        """Listen in the background (in a serving worker), reconnecting for as long as it runs."""

    async def wait_live(self, timeout: float) -> bool: ...

    async def close(self) -> None: ...


class Database(Protocol):
    dialect: str

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Stores]: ...

    def reader(self) -> AbstractAsyncContextManager[Stores]: ...

    def writer(self) -> AbstractAsyncContextManager[Stores]:
        """The stores on the primary for a use case whose every write is one call documented as atomic
        (`SessionStore.rotate_current`): without a transaction's round trips where the database makes such a call atomic
        by itself (PostgreSQL: one statement, committed on its own), in a transaction where it does not."""

    def replica(self) -> AbstractAsyncContextManager[Stores]: ...

    def change_feed(self, listener: ChangeListener) -> ChangeFeed | None:
        """A feed that tells `listener` whose account or sessions changed, in any process (PostgreSQL only: None
        elsewhere); `start()` it in a serving worker. This process's own changes are told as they commit."""

    async def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers."""

    async def migrate(self) -> list[str]:
        """Apply pending migrations (safe when several processes start at once); the names applied."""

    async def pending_migrations(self) -> list[str]: ...
