-- Users, sessions with their refresh tokens, signing keys and server secrets.
-- Keys (username_key, email_key) use the "C" collation so that their unique indexes also serve prefix
-- searches (q=...) and the sort by username, as plain byte-order range scans.

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    username        text NOT NULL,
    username_key    text COLLATE "C" NOT NULL,
    email           text NOT NULL,
    email_key       text COLLATE "C" NOT NULL,
    password_hash   text NOT NULL,
    roles           text[] NOT NULL DEFAULT '{}',
    disabled        boolean NOT NULL DEFAULT false,
    email_verified  boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT users_username_key_unique UNIQUE (username_key),
    CONSTRAINT users_email_key_unique UNIQUE (email_key)
);
CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_roles_idx ON users USING gin (roles);

CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    user_agent    text NOT NULL DEFAULT '',
    ip            text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);

CREATE TABLE refresh_tokens (
    token_hash      bytea PRIMARY KEY,
    session_id      uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    rotated_at      timestamptz,
    successor_hash  bytea
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,
    private_key  bytea NOT NULL,
    public_key   bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    retired_at   timestamptz
);

CREATE TABLE server_secrets (
    name        text PRIMARY KEY,
    value       bytea NOT NULL,
    created_at  timestamptz NOT NULL
);
