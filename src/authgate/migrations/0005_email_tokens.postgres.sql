-- The tokens of mailed links: verify an address, reset a password, confirm a new address (domain/email_tokens.py).
-- Only the SHA-256 of a token is stored. Issuing a token deletes the user's older ones of the same purpose, so
-- the table holds at most a few rows per user; `email` is the address the token was mailed to.

CREATE TABLE email_tokens (
    token_hash  bytea PRIMARY KEY,
    purpose     text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose);
