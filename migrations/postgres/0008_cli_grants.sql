-- Sign-ins of the fedbroker command-line client (an OAuth 2.0 authorization-code flow with
-- PKCE on a loopback redirect).

-- Authorization codes between the consent page and the client's token request: single use
-- (taken by deleting the row, so two instances cannot both redeem one), short-lived.
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    device TEXT NOT NULL,
    lifetime_secs BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- One signed-in client on one device: its refresh token (hash; rotated on every use, the one
-- before kept to detect a stolen copy being replayed) and how long the grant may live.
CREATE TABLE cli_grants (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    refresh_hash TEXT NOT NULL UNIQUE,
    previous_hash TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX cli_grants_user ON cli_grants(user_id);
CREATE INDEX cli_grants_previous ON cli_grants(previous_hash);

-- The short-lived API tokens a grant hands out belong to it: revoking the grant revokes them,
-- and the token page lists the grant instead of each of them.
ALTER TABLE api_tokens ADD COLUMN cli_grant_id BIGINT;
CREATE INDEX api_tokens_cli_grant ON api_tokens(cli_grant_id);
