-- Every worker of every instance keeps the sessions it checked recently, with their users, so that an
-- authenticated request needs no round trip (domain/session_cache.py). These triggers tell them, at commit,
-- which user's account or sessions changed, whoever made the change (authgate, its CLI, or an operator's SQL):
-- a NOTIFY on the channel `authgate_user_changed` with the user's id. PostgreSQL delivers it to every session
-- that LISTENs, after the transaction commits and never for one that rolls back, and sends one notification
-- for identical ones within a transaction. No trigger on INSERT: a new user or session is in no cache yet.
-- SQLite has no such thing: a worker on SQLite keeps no such cache (its lookups cost microseconds).

CREATE FUNCTION authgate_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('authgate_user_changed', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE FUNCTION authgate_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('authgate_user_changed', OLD.user_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION authgate_user_changed();

-- Only what decides whether a session is valid (a refresh touches last_used_at, which does not).
CREATE TRIGGER sessions_changed AFTER UPDATE OF ended_at, expires_at, user_id OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION authgate_session_changed();
