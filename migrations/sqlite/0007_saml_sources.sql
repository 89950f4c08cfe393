-- SAML sign-ins under way: the AuthnRequest ID a browser is waiting for, taken once.
CREATE TABLE saml_logins (
    browser_hash TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    request_id TEXT NOT NULL,
    next TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Assertion IDs already consumed, until the assertion could no longer be presented: one
-- table for every instance, so a replay to another instance is refused too.
CREATE TABLE saml_assertions (
    issuer TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, assertion_id)
);
CREATE INDEX saml_assertions_expiry ON saml_assertions (expires_at);

-- What single logout needs about a session that came from a SAML source.
CREATE TABLE saml_sessions (
    session_hash TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    name_id TEXT NOT NULL,
    name_id_format TEXT NOT NULL,
    session_index TEXT,
    created_at BIGINT NOT NULL
);
