-- Two-step login (domain/mfa.py): at most one TOTP authenticator per user, and its recovery codes.
-- `secret` is the base32 secret, sealed with the key-encryption key when one is set; `last_step` is the newest
-- 30-second step whose code was accepted (no code of it or before is accepted again). An authenticator with no
-- `confirmed_at` was set up and never confirmed: it does not guard the login. Recovery codes are kept as their
-- SHA-256, each usable once.

CREATE TABLE totp_factors (
    user_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret        bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    confirmed_at  timestamptz,
    last_step     bigint NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
