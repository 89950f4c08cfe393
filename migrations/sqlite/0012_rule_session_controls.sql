-- A rule's session policies, tags and session name template: the rule's `session` object as
-- JSON (mapping::SessionSpec). NULL when the rule sets none. Kept as one document because
-- only the broker reads it and the rule is always written whole.
ALTER TABLE mapping_rules ADD COLUMN session_controls TEXT;
