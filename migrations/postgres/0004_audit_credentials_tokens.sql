-- The audit log (append-only), what STS taught us about roles' MaxSessionDuration, and the API
-- tokens people create for scripts.

CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    role_arn TEXT NOT NULL DEFAULT '',
    account_id TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    source_addr TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_subject ON audit_events(subject, at);
CREATE INDEX audit_events_type ON audit_events(event_type, at);

CREATE TABLE role_session_limits (
    role_arn TEXT PRIMARY KEY,
    max_duration BIGINT NOT NULL,
    refused_duration BIGINT NOT NULL,
    learned_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

-- Events are never changed once written (retention pruning deletes whole old rows only).
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
