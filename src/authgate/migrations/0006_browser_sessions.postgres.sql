-- Browser sign-in (domain/browser.py): the cookie of a signed-in browser, bound to one session.
-- Only the SHA-256 of the cookie value is stored. The session's `last_used_at` is its idle clock and its
-- `expires_at` its absolute end; ending or deleting the session ends the cookie with it.

CREATE TABLE browser_sessions (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL
);
