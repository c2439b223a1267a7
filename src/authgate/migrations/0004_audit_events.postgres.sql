-- The audit log of security events. user_id and actor_id have no foreign key: a deleted user's history stays.
-- Ids are UUIDv7, so the primary key orders events by time: the unfiltered listing (newest first) and the
-- retention delete are range scans of it; each filter has its own (filter, id) index.

CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    at          timestamptz NOT NULL,
    event       text NOT NULL,
    outcome     text NOT NULL,
    user_id     uuid,
    actor_id    uuid,
    ip          text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_event_idx ON audit_events (event, id);
