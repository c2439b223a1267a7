-- Sessions over (past their absolute expiry, or ended) are deleted in batches by the retention sweep
-- (domain/retention.py), with their refresh tokens and browser cookies by cascade. These indexes find them
-- without reading the live ones. A refresh updates only last_used_at, which neither index holds.

CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_ended_idx ON sessions (ended_at) WHERE ended_at IS NOT NULL;
