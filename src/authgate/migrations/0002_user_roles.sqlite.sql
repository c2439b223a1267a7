-- The admin listing at scale: one row per (role, user), kept by triggers, so that `GET /users?role=...` and
-- the last-admin count are ordered index range scans whatever the role's share of the users.
-- created_at and username_key are copied from users (created_at never changes; a username change rewrites
-- the rows) so that each sort order of a role filter has its own index.

CREATE TABLE user_roles (
    role          TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    username_key  TEXT NOT NULL,
    PRIMARY KEY (role, created_at, user_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX user_roles_user_idx ON user_roles (user_id, role);
CREATE INDEX user_roles_username_idx ON user_roles (role, username_key);

-- users.roles is comma-separated role names ([a-z][a-z0-9_-]*), so it becomes a JSON array by quoting.
CREATE TRIGGER users_roles_insert AFTER INSERT ON users
BEGIN
    INSERT INTO user_roles (role, user_id, created_at, username_key)
    SELECT DISTINCT value, NEW.id, NEW.created_at, NEW.username_key
    FROM json_each('["' || replace(NEW.roles, ',', '","') || '"]') WHERE value <> '';
END;

CREATE TRIGGER users_roles_update AFTER UPDATE OF roles, username_key ON users
WHEN OLD.roles IS NOT NEW.roles OR OLD.username_key IS NOT NEW.username_key
BEGIN
    DELETE FROM user_roles WHERE user_id = OLD.id;
    INSERT INTO user_roles (role, user_id, created_at, username_key)
    SELECT DISTINCT value, NEW.id, NEW.created_at, NEW.username_key
    FROM json_each('["' || replace(NEW.roles, ',', '","') || '"]') WHERE value <> '';
END;

INSERT INTO user_roles (role, user_id, created_at, username_key)
SELECT DISTINCT j.value, u.id, u.created_at, u.username_key
FROM users u, json_each('["' || replace(u.roles, ',', '","') || '"]') j WHERE j.value <> '';
