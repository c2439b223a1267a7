-- Two-step login (domain/mfa.py): at most one TOTP authenticator per user, and its recovery codes.
-- `secret` is the base32 secret, sealed with the key-encryption key when one is set; `last_step` is the newest
-- 30-second step whose code was accepted (no code of it or before is accepted again). An authenticator with no
-- `confirmed_at` was set up and never confirmed: it does not guard the login. Recovery codes are kept as their
-- SHA-256, each usable once.
-- Times are integer microseconds since the Unix epoch (UTC).

CREATE TABLE totp_factors (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret        BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE recovery_codes (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;
