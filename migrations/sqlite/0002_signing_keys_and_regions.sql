-- SAML signing keys (private halves encrypted) and the admin's Region pins and drains.

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('published', 'active', 'retired')),
    certificate_pem TEXT NOT NULL,
    private_key_enc TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at INTEGER
);

CREATE TABLE region_controls (
    region TEXT PRIMARY KEY,
    mode TEXT NOT NULL CHECK (mode IN ('pinned', 'drained')),
    changed_by TEXT NOT NULL,
    changed_at INTEGER NOT NULL
);
