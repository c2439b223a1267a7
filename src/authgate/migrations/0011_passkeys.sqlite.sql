-- Passkeys (domain/passkeys.py): WebAuthn credentials a user registered to log in without a password.
-- `credential_id` is the authenticator's id of the key (unique across users), `public_key` its COSE public key,
-- `sign_count` the authenticator's signature counter as last seen (0 for passkeys that keep none), `backed_up`
-- whether it is synced to the user's other devices. `passkey_challenges_spent` holds the digest of every
-- challenge a response was accepted for, until the challenge expires, so that none is accepted twice; the
-- retention sweep deletes them after. A session's `method` is how its login proved who the user is: a password
-- (and maybe a second factor: `second_factor`), a passkey, or a link mailed to the address (`email_link`).
-- Times are integer microseconds since the Unix epoch (UTC).

CREATE TABLE passkeys (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  BLOB NOT NULL UNIQUE,
    public_key     BLOB NOT NULL,
    sign_count     INTEGER NOT NULL DEFAULT 0,
    name           TEXT NOT NULL,
    backed_up      INTEGER NOT NULL DEFAULT 0,
    transports     TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER
) WITHOUT ROWID;

CREATE INDEX passkeys_user_idx ON passkeys (user_id);

CREATE TABLE passkey_challenges_spent (
    digest      BLOB PRIMARY KEY,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX passkey_challenges_spent_expires_idx ON passkey_challenges_spent (expires_at);

ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password'
    CHECK (method IN ('password', 'passkey', 'email_link'));
