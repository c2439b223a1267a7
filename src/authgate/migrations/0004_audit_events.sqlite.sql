-- The audit log of security events. user_id and actor_id have no foreign key: a deleted user's history stays.
-- Ids are UUIDv7 strings, whose text order is their time order: the unfiltered listing (newest first) and the
-- retention delete are range scans of the primary key; each filter has its own (filter, id) index.
-- Times are integer microseconds since the Unix epoch (UTC).

CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    at          INTEGER NOT NULL,
    event       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    user_id     TEXT,
    actor_id    TEXT,
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX audit_events_user_idx ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_event_idx ON audit_events (event, id);
