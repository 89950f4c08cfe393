-- Group-to-role mapping rules, account aliases, the change history of both, the rule-set
-- generation (bumped by every rule change so each instance knows when to recompile) and
-- people's favourite roles.

CREATE TABLE mapping_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    priority BIGINT NOT NULL,
    enabled BOOLEAN NOT NULL,
    effect TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
    pattern TEXT NOT NULL,
    case_sensitive BOOLEAN NOT NULL,
    role_template TEXT NOT NULL,
    provider_template TEXT,
    session_duration BIGINT,
    relay_state TEXT,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE INDEX mapping_rules_order ON mapping_rules(priority, id);

CREATE TABLE rule_set_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO rule_set_state (id, generation) VALUES (1, 1);

CREATE TABLE account_aliases (
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    environment TEXT NOT NULL DEFAULT '',
    colour TEXT,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE change_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    action TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX change_history_entity ON change_history(entity, entity_key, id);

CREATE TABLE favourites (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_arn TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role_arn)
);

-- Until an admin changes them, the rules reproduce the AD FS convention fedbroker started with.
INSERT INTO mapping_rules (name, description, priority, enabled, effect, pattern, case_sensitive,
    role_template, version, updated_at, updated_by)
VALUES ('AD FS convention', 'Groups named AWS-<account>-<role>.', 10, TRUE, 'allow',
    'AWS-(?P<account>[0-9]{12})-(?P<role>[A-Za-z0-9_+=,.@-]+)', FALSE,
    'arn:${partition}:iam::${account}:role/${role}', 1, 0, 'fedbroker');
