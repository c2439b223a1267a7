-- The admin listing at scale: one row per (role, user), kept by a trigger, so that `GET /users?role=...` and
-- the last-admin count are ordered index range scans whatever the role's share of the users (the GIN index
-- on users.roles could only find the rows, then sort them all).
-- created_at and username_key are copied from users (created_at never changes; a username change rewrites
-- the rows) so that each sort order of a role filter has its own index.

CREATE TABLE user_roles (
    role          text NOT NULL,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    username_key  text COLLATE "C" NOT NULL,
    PRIMARY KEY (role, created_at, user_id)
);
CREATE UNIQUE INDEX user_roles_user_idx ON user_roles (user_id, role);
CREATE INDEX user_roles_username_idx ON user_roles (role, username_key);

CREATE FUNCTION users_sync_roles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM user_roles WHERE user_id = OLD.id;
    END IF;
    INSERT INTO user_roles (role, user_id, created_at, username_key)
    SELECT DISTINCT r, NEW.id, NEW.created_at, NEW.username_key FROM unnest(NEW.roles) AS r;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_roles_insert AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_sync_roles();
CREATE TRIGGER users_roles_update AFTER UPDATE OF roles, username_key ON users
    FOR EACH ROW WHEN (OLD.roles IS DISTINCT FROM NEW.roles OR OLD.username_key IS DISTINCT FROM NEW.username_key)
    EXECUTE FUNCTION users_sync_roles();

INSERT INTO user_roles (role, user_id, created_at, username_key)
SELECT DISTINCT r, u.id, u.created_at, u.username_key FROM users u, unnest(u.roles) AS r;

-- Every reader of roles now goes through user_roles; the GIN index would only slow every insert.
DROP INDEX users_roles_idx;
