"""The composition root: builds the database, the hash pool, the key ring and the use cases from the settings.

One `Services` per worker process, made by `App.startup()` and closed by `App.shutdown()`.
"""

from __future__ import annotations

import time

from authgate.config import ConfigError, Settings
from authgate.domain.admin import UserAdmin
from authgate.domain.audit_log import AuditLog
from authgate.domain.auth import AuthPolicy, AuthService
from authgate.domain.browser import BrowserSessions
from authgate.domain.clock import Clock, utcnow
from authgate.domain.cursors import CursorCodec
from authgate.domain.devices import DeviceTokens
from authgate.domain.email_flows import EmailFlows, EmailPolicy
from authgate.domain.guard import LoginGuard
from authgate.domain.importer import UserImporter
from authgate.domain.keys import KeyEncryptionError, Keyring, StoredKey, parse_key_encryption_key
from authgate.domain.mfa import CHALLENGE_SECRET, MfaChallenges, SecondFactors
from authgate.domain.passkeys import CHALLENGE_SECRET as PASSKEY_CHALLENGE_SECRET
from authgate.domain.passkeys import PasskeyChallenges, Passkeys, RelyingParty
from authgate.domain.passwords import HashParameters, HashPool, PasswordHasher
from authgate.domain.profile import ProfileService
from authgate.domain.reauth import Reauthentication
from authgate.domain.refresh import RefreshRotation
from authgate.domain.retention import Retention
from authgate.domain.server_secrets import server_secret
from authgate.domain.session_cache import SessionCache
from authgate.domain.signing import SigningKeys
from authgate.domain.tokens import AccessTokens
from authgate.keysync import KeySync
from authgate.mail import JinjaMailTemplates, MailOutbox, TemplateError, start_outbox
from authgate.malloc import GLIBC
from authgate.observability.instruments import Instruments
from authgate.ratelimit import RateLimiting, start_rate_limiting
from authgate.storage import open_database
from authgate.storage.base import ChangeFeed, Database
from authgate.sweeper import Sweeper

JWKS_REFRESH_SECONDS = 2.0


def check_mail_templates(settings: Settings) -> JinjaMailTemplates:
    """The mail templates; overrides (`AUTHGATE_MAIL_TEMPLATES_DIR`) rendered once with sample values, so that a
    broken one stops the start (the packaged ones are checked by the tests, and load at the first mail)."""
    templates = JinjaMailTemplates(settings.mail_templates_dir)
    if settings.mail_templates_dir is not None:
        try:
            templates.check()
        except TemplateError as exc:
            raise ConfigError(f"AUTHGATE_MAIL_TEMPLATES_DIR={settings.mail_templates_dir!r}: {exc}") from None
    return templates


def key_encryption_key(settings: Settings) -> bytes | None:
    """AUTHGATE_KEY_ENCRYPTION_KEY, which seals the signing keys and the TOTP secrets (None: not set)."""
    return parse_key_encryption_key(settings.key_encryption_key) if settings.key_encryption_key else None


async def start_signing_keys(settings: Settings, db: Database, clock: Clock) -> tuple[SigningKeys, Keyring]:
    """The signing keys (the first one made if there is none), opened with the key-encryption key."""
    keys = SigningKeys(db, clock, key_encryption_key(settings), settings.access_token_ttl)
    try:
        return keys, await keys.bootstrap()
    except KeyEncryptionError as exc:
        raise ConfigError(
            f"AUTHGATE_KEY_ENCRYPTION_KEY: {exc} (is it the key the database's keys were sealed with?)"
        ) from None


def _session_cache(settings: Settings, db: Database) -> tuple[SessionCache | None, ChangeFeed | None]:
    """A session cache and the feed that keeps it true, where the database has one (PostgreSQL) and the setting
    allows it; this process's own changes reach the cache as they commit."""
    if settings.session_cache_ttl <= 0:
        return None, None
    cache = SessionCache(settings.session_cache_ttl)
    feed = db.change_feed(cache)
    return (cache, feed) if feed is not None else (None, None)


class Services:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        pool: HashPool,
        hasher: PasswordHasher,
        keys: SigningKeys,
        tokens: AccessTokens,
        auth: AuthService,
        *,
        admin: UserAdmin,
        profile: ProfileService,
        rate_limiting: RateLimiting,
        audit: AuditLog,
        browser: BrowserSessions,
        email: EmailFlows,
        mail: MailOutbox,
        mfa: SecondFactors,
        passkeys: Passkeys,
    ) -> None:
        self.settings = settings
        self.db = db
        self.pool = pool
        self.hasher = hasher
        self.keys = keys
        self.tokens = tokens
        self.auth = auth
        self.refresh = RefreshRotation(db=db, policy=auth.policy, keys=keys, pair=auth.token_pair, clock=auth.clock)
        """Refresh tokens traded for new pairs, their reuse ending the session (`domain/refresh.py`)."""
        self.admin = admin
        self.profile = profile
        self.importer = UserImporter(db, auth.clock, roles=settings.roles, default_roles=settings.default_roles)
        self.retention = Retention(db, auth.clock, audit_days=settings.audit_retention_days)
        """Deletes what is over (the workers' sweeper runs it; `authgate cleanup` runs it once)."""
        self.rate_limiting = rate_limiting
        self.rate_limits = rate_limiting.limits
        """`await services.rate_limits.hit("email", ip=..., account=email_key)` before sending an email."""
        self.audit = audit
        self.browser = browser
        """Signed-in browsers: cookie sessions and the forms' CSRF secret (`domain/browser.py`)."""
        self.email = email
        """The email flows: verification, password reset, email change (`domain/email_flows.py`)."""
        self.mail = mail
        """The outbox that sends mail in the background; `mail.stats` counts sent, failed and dropped mails."""
        self.mfa = mfa
        """Two-step login: set up, confirm, turn off, recovery codes (`domain/mfa.py`)."""
        self.passkeys = passkeys
        """Passkeys: add, list, remove, and the login's challenge (`domain/passkeys.py`)."""
        self._keyring_loaded = time.monotonic()

    @classmethod
    async def start(
        cls, settings: Settings, *, clock: Clock = utcnow, migrate: bool = True, instruments: Instruments | None = None
    ) -> Services:
        """`instruments`: the serving worker's metrics and tracer (observability/instruments.py); none for the CLI."""
        instruments = instruments or Instruments()
        templates = check_mail_templates(settings)
        db = instruments.database(
            open_database(
                settings.database_url,
                replica_urls=settings.database_replica_urls,
                pool_size=settings.database_pool_size,
            )
        )
        await db.connect()
        try:
            if migrate:
                await db.migrate()
            keys, keyring = await start_signing_keys(settings, db, clock)
            cursors = await CursorCodec.bootstrap(db, clock)
            devices = await DeviceTokens.bootstrap(db, clock)
            rate_limiting = await start_rate_limiting(settings)
        except BaseException:
            await db.close()
            raise
        hasher = PasswordHasher(
            HashParameters(
                memory_kib=settings.password_hash_memory_kib,
                time_cost=settings.password_hash_time_cost,
                parallelism=settings.password_hash_parallelism,
            )
        )
        pool = instruments.hash_pool(
            settings.hash_pool_threads(), settings.hash_queue_size, settings.hash_thread_priority
        )
        pool.release_memory_when_idle(GLIBC, settings.hash_memory_release_after)
        instruments.count_sessions_of(db, clock)
        session_cache, change_feed = _session_cache(settings, db)
        tokens = AccessTokens(settings.issuer, settings.audience, settings.access_token_ttl, keyring, time.time)
        guard = LoginGuard(rate_limiting.limits, rate_limiting.backoff, rate_limiting.policy, devices, clock)
        reauth = Reauthentication(db=db, hasher=hasher, pool=pool, clock=clock, guard=guard)
        auth = AuthService(
            db=db,
            policy=AuthPolicy(
                access_token_ttl=settings.access_token_ttl,
                refresh_token_ttl=settings.refresh_token_ttl,
                session_ttl=settings.session_ttl,
                refresh_grace_seconds=settings.refresh_grace_seconds,
                registration_open=settings.registration_open,
                reject_common_passwords=settings.reject_common_passwords,
                roles=settings.roles,
                default_roles=settings.default_roles,
                require_verified_email=settings.require_verified_email,
            ),
            hasher=hasher,
            pool=pool,
            keys=keys,
            tokens=tokens,
            clock=clock,
            reauth=reauth,
            guard=guard,
            session_cache=session_cache,
        )
        mfa = SecondFactors(
            db=db,
            clock=clock,
            challenges=MfaChallenges(await server_secret(db, CHALLENGE_SECRET, clock), clock),
            reauth=reauth,
            kek=key_encryption_key(settings),
            issuer_name=settings.mfa_issuer_name,
            guard=guard,
        )
        auth.second_factors = mfa
        passkeys = Passkeys(
            db=db,
            clock=clock,
            challenges=PasskeyChallenges(await server_secret(db, PASSKEY_CHALLENGE_SECRET, clock), clock),
            reauth=reauth,
            relying_party=RelyingParty(
                id=settings.passkey_rp_id, name=settings.mfa_issuer_name, origins=settings.passkey_origins
            ),
        )
        auth.passkeys = passkeys
        admin = UserAdmin(db=db, auth=auth, cursors=cursors, roles=settings.roles, clock=clock)
        mail = start_outbox(settings)
        email = EmailFlows(
            db=db,
            outbox=mail,
            templates=templates,
            hasher=hasher,
            pool=pool,
            policy=EmailPolicy(
                base_url=settings.issuer,
                verification_ttl=settings.email_verification_ttl,
                reset_ttl=settings.password_reset_ttl,
                invitation_ttl=settings.invitation_ttl,
                login_ttl=settings.email_login_ttl,
                reject_common_passwords=settings.reject_common_passwords,
                hide_account_existence=settings.hide_account_existence,
            ),
            clock=clock,
        )
        auth.on_existing_account = email.existing_account
        auth.on_registered = email.send_verification
        admin.on_password_link = email.send_password_link
        if settings.email_login:
            auth.redeem_login_link = email.redeem_login_link
        mfa.on_changed = email.second_factor_changed
        passkeys.on_changed = email.passkey_changed
        profile = ProfileService(db=db, clock=clock, email=email, reauth=reauth, second_factors=mfa)
        browser = await BrowserSessions.bootstrap(
            db=db, auth=auth, idle_timeout=settings.browser_session_idle_timeout, clock=clock
        )
        services = cls(
            settings,
            db,
            pool,
            hasher,
            keys,
            tokens,
            auth,
            admin=admin,
            profile=profile,
            rate_limiting=rate_limiting,
            audit=AuditLog(db, cursors),
            browser=browser,
            email=email,
            mail=mail,
            mfa=mfa,
            passkeys=passkeys,
        )
        services.instruments = instruments
        services.key_sync = KeySync(services.reload_keyring, settings.redis_url, settings.redis_prefix)
        services.change_feed = change_feed
        if settings.retention_sweep_interval:
            services.sweeper = Sweeper(services.retention, settings.retention_sweep_interval)
        return services

    instruments: Instruments | None = None
    key_sync: KeySync | None = None
    """Started by the serving app (`App.startup`): reloads on rotations announced through Redis, and every 30 s."""
    sweeper: Sweeper | None = None
    """Started by the serving app: the retention sweep, about every AUTHGATE_RETENTION_SWEEP_INTERVAL seconds."""
    change_feed: ChangeFeed | None = None
    """Started by the serving app: keeps the session cache told of changes (PostgreSQL; until it runs, nothing is
    cached, so the command line never caches)."""

    async def reload_keyring(self) -> None:
        self._keyring_loaded = time.monotonic()
        self.tokens.use_keyring(await self.keys.load())

    async def rotate_keys(self) -> StoredKey:
        """Add a new current key, use it here at once, and tell every other worker and instance."""
        key = await self.keys.rotate()
        await self.reload_keyring()
        if self.key_sync is not None:
            await self.key_sync.announce()
        return key

    async def fresh_keyring(self) -> None:
        """Reload the key ring when it is older than a few seconds, so that a key rotated by another
        worker or instance is published (JWKS) and trusted here soon after."""
        if time.monotonic() - self._keyring_loaded >= JWKS_REFRESH_SECONDS:
            self._keyring_loaded = time.monotonic()
            self.tokens.use_keyring(await self.keys.load())

    async def close(self) -> None:
        if self.sweeper is not None:
            await self.sweeper.close()
        if self.change_feed is not None:
            await self.change_feed.close()
        if self.key_sync is not None:
            await self.key_sync.close()
        await self.mail.close(timeout=min(10, self.settings.shutdown_timeout))  # before the database it may need
        self.pool.close()
        await self.rate_limiting.close()
        await self.db.close()
