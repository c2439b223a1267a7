package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/pgxpool"
)

// The same tables as authgate's PostgreSQL migration (signing keys stay in memory here).
const schema = `
CREATE TABLE IF NOT EXISTS users (
    id              uuid PRIMARY KEY,
    username        text NOT NULL,
    username_key    text COLLATE "C" NOT NULL UNIQUE,
    email           text NOT NULL,
    email_key       text COLLATE "C" NOT NULL UNIQUE,
    password_hash   text NOT NULL,
    roles           text[] NOT NULL DEFAULT '{}',
    disabled        boolean NOT NULL DEFAULT false,
    email_verified  boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS users_created_at_idx ON users (created_at, id);
CREATE TABLE IF NOT EXISTS sessions (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    user_agent    text NOT NULL DEFAULT '',
    ip            text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sessions_user_idx ON sessions (user_id, created_at);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash      bytea PRIMARY KEY,
    session_id      uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    rotated_at      timestamptz,
    successor_hash  bytea
);
CREATE INDEX IF NOT EXISTS refresh_tokens_session_idx ON refresh_tokens (session_id);
`

const userColumns = "u.id::text, u.username, u.email, u.password_hash, u.roles, u.disabled, u.email_verified, u.created_at, u.updated_at"

type user struct {
	ID            string    `json:"id"`
	Username      string    `json:"username"`
	Email         string    `json:"email"`
	PasswordHash  string    `json:"-"`
	Roles         []string  `json:"roles"`
	EmailVerified bool      `json:"email_verified"`
	Disabled      bool      `json:"disabled"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func (u *user) isAdmin() bool {
	for _, r := range u.Roles {
		if r == "admin" {
			return true
		}
	}
	return false
}

type session struct {
	ID        string
	UserID    string
	ExpiresAt time.Time
	EndedAt   *time.Time
}

func (s *session) active(now time.Time) bool { return s.EndedAt == nil && s.ExpiresAt.After(now) }

type store struct{ pool *pgxpool.Pool }

var errConflict = errors.New("already exists")

func openStore(ctx context.Context, url string, poolSize int32) (*store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = poolSize
	cfg.MinConns = 1
	pool, err := pgxpool.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &store{pool: pool}, nil
}

func (s *store) migrate(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, schema)
	return err
}

// newID is a UUIDv7 (time-ordered), as authgate's ids.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err)
	}
	ms := uint64(time.Now().UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func scanUser(row pgx.Row, extra ...interface{}) (*user, error) {
	u := &user{}
	dest := append([]interface{}{&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.Roles, &u.Disabled,
		&u.EmailVerified, &u.CreatedAt, &u.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *store) addUser(ctx context.Context, u *user) error {
	_, err := s.pool.Exec(ctx,
		"INSERT INTO users (id, username, username_key, email, email_key, password_hash, roles, created_at, updated_at)"+
			" VALUES ($1::uuid, $2, lower($2), $3, lower($3), $4, $5, $6, $6)",
		u.ID, u.Username, u.Email, u.PasswordHash, u.Roles, u.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return errConflict
	}
	return err
}

// userByLogin finds a user by username or email key (nil when there is none).
func (s *store) userByLogin(ctx context.Context, key string) (*user, error) {
	row := s.pool.QueryRow(ctx,
		"(SELECT "+userColumns+" FROM users u WHERE username_key = $1)"+
			" UNION ALL (SELECT "+userColumns+" FROM users u WHERE email_key = $1) LIMIT 1", key)
	u, err := scanUser(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return u, err
}

// startSession inserts a session and its first refresh token in one statement.
func (s *store) startSession(ctx context.Context, sess *session, tokenHash []byte, now, tokenExpires time.Time) error {
	_, err := s.pool.Exec(ctx,
		"WITH s AS (INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)"+
			" VALUES ($1::uuid, $2::uuid, $3, $3, $4, $5, $6))"+
			" INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($7, $1::uuid, $3, $8)",
		sess.ID, sess.UserID, now, sess.ExpiresAt, "", "", tokenHash, tokenExpires)
	return err
}

// sessionWithUser reads a session and its user in one query (nil when there is no such session).
func (s *store) sessionWithUser(ctx context.Context, q pgx.Tx, sessionID string) (*session, *user, error) {
	sql := "SELECT " + userColumns + ", s.id::text, s.expires_at, s.ended_at" +
		" FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1::uuid"
	var row pgx.Row
	if q != nil {
		row = q.QueryRow(ctx, sql, sessionID)
	} else {
		row = s.pool.QueryRow(ctx, sql, sessionID)
	}
	sess := &session{}
	u, err := scanUser(row, &sess.ID, &sess.ExpiresAt, &sess.EndedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	sess.UserID = u.ID
	return sess, u, nil
}

type refreshRecord struct {
	sessionID string
	expiresAt time.Time
	rotatedAt *time.Time
}

var errTokenUnknown = errors.New("unknown refresh token")
var errTokenReused = errors.New("refresh token reused")
var errSessionEnded = errors.New("session ended")

// rotate exchanges a refresh token for its successor in one transaction; a reused token ends its session.
func (s *store) rotate(ctx context.Context, oldHash, newHash []byte, now time.Time, ttl time.Duration) (*session, *user, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	rec := refreshRecord{}
	err = tx.QueryRow(ctx,
		"SELECT session_id::text, expires_at, rotated_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
		oldHash).Scan(&rec.sessionID, &rec.expiresAt, &rec.rotatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, errTokenUnknown
	}
	if err != nil {
		return nil, nil, err
	}
	sess, u, err := s.sessionWithUser(ctx, tx, rec.sessionID)
	if err != nil {
		return nil, nil, err
	}
	if sess == nil || !sess.active(now) || u.Disabled {
		return nil, nil, errSessionEnded
	}
	if rec.rotatedAt != nil {
		if _, err := tx.Exec(ctx, "UPDATE sessions SET ended_at = $1 WHERE id = $2::uuid AND ended_at IS NULL",
			now, sess.ID); err != nil {
			return nil, nil, err
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, nil, err
		}
		return nil, nil, errTokenReused
	}
	if !rec.expiresAt.After(now) {
		return nil, nil, errTokenUnknown
	}
	expires := now.Add(ttl)
	if sess.ExpiresAt.Before(expires) {
		expires = sess.ExpiresAt
	}
	if _, err := tx.Exec(ctx,
		"WITH r AS (UPDATE refresh_tokens SET rotated_at = $1, successor_hash = $2 WHERE token_hash = $3),"+
			" t AS (INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)"+
			" VALUES ($2, $4::uuid, $1, $5))"+
			" UPDATE sessions SET last_used_at = $1 WHERE id = $4::uuid",
		now, newHash, oldHash, sess.ID, expires); err != nil {
		return nil, nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, nil, err
	}
	return sess, u, nil
}

// pageUsers is a keyset page ordered by (created_at, id), one row more than asked to know if more follow.
func (s *store) pageUsers(ctx context.Context, after *time.Time, afterID string, limit int) ([]*user, bool, error) {
	sql := "SELECT " + userColumns + " FROM users u"
	args := []interface{}{}
	if after != nil {
		sql += " WHERE (u.created_at, u.id) > ($1, $2::uuid)"
		args = append(args, *after, afterID)
	}
	sql += fmt.Sprintf(" ORDER BY u.created_at, u.id LIMIT %d", limit+1)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	items := make([]*user, 0, limit+1)
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, false, err
		}
		items = append(items, u)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(items) > limit {
		return items[:limit], true, nil
	}
	return items, false, nil
}
