-- Sign-in links (AUTHGATE_EMAIL_LOGIN, domain/email_flows.py): email tokens get the purpose `login`.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt (nothing refers to it).
-- Times are integer microseconds since the Unix epoch (UTC).

CREATE TABLE email_tokens_new (
    token_hash  BLOB PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email', 'login')),
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) WITHOUT ROWID;
INSERT INTO email_tokens_new SELECT token_hash, purpose, user_id, email, created_at, expires_at, used_at
    FROM email_tokens;
DROP TABLE email_tokens;
ALTER TABLE email_tokens_new RENAME TO email_tokens;
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose);
