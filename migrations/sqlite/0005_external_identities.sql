-- People from LDAP and OIDC sources: which source a user came from, their stable id there, and
-- when they last signed in. Group memberships remember their source, so a sign-in replaces the
-- groups a source gave and keeps those granted locally (the admin group, say).

ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
ALTER TABLE users ADD COLUMN subject TEXT;
ALTER TABLE users ADD COLUMN last_login_at BIGINT;
-- Extra attributes the source gave (JSON object), for RoleSessionName, SourceIdentity and tag templates.
ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX users_source_subject ON users(source, subject) WHERE subject IS NOT NULL;

ALTER TABLE group_members ADD COLUMN source TEXT NOT NULL DEFAULT 'local';

-- OIDC sign-ins under way: looked up (once) by the hash of their state; bound to the browser
-- that started them by the hash of a cookie; their PKCE verifier and nonce stay server-side.
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    next TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
