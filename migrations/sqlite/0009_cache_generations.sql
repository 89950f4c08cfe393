-- Generations of the rows every instance keeps in memory (src/store/cache.rs): bumped by
-- triggers on every write of a cached table, so no write path (admin page, command line,
-- another instance) can leave an instance serving an old value. The mapping rules keep their
-- own generation in rule_set_state.
CREATE TABLE cache_generations (
    name TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO cache_generations (name, generation) VALUES
    ('region_controls', 1), ('role_session_limits', 1), ('signing_keys', 1), ('identities', 1),
    ('sessions', 1);

CREATE TRIGGER region_controls_insert_generation AFTER INSERT ON region_controls BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'region_controls';
END;
CREATE TRIGGER region_controls_update_generation AFTER UPDATE ON region_controls BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'region_controls';
END;
CREATE TRIGGER region_controls_delete_generation AFTER DELETE ON region_controls BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'region_controls';
END;
CREATE TRIGGER role_session_limits_insert_generation AFTER INSERT ON role_session_limits BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'role_session_limits';
END;
CREATE TRIGGER role_session_limits_update_generation AFTER UPDATE ON role_session_limits BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'role_session_limits';
END;
CREATE TRIGGER role_session_limits_delete_generation AFTER DELETE ON role_session_limits BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'role_session_limits';
END;
CREATE TRIGGER signing_keys_insert_generation AFTER INSERT ON signing_keys BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'signing_keys';
END;
CREATE TRIGGER signing_keys_update_generation AFTER UPDATE ON signing_keys BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'signing_keys';
END;
CREATE TRIGGER signing_keys_delete_generation AFTER DELETE ON signing_keys BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'signing_keys';
END;
CREATE TRIGGER users_insert_generation AFTER INSERT ON users BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'identities';
END;
CREATE TRIGGER users_update_generation AFTER UPDATE ON users BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'identities';
END;
CREATE TRIGGER users_delete_generation AFTER DELETE ON users BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'identities';
END;
CREATE TRIGGER groups_insert_generation AFTER INSERT ON groups BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'identities';
END;
CREATE TRIGGER groups_update_generation AFTER UPDATE ON groups BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'identities';
END;
CREATE TRIGGER groups_delete_generation AFTER DELETE ON groups BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'identities';
END;
CREATE TRIGGER group_members_insert_generation AFTER INSERT ON group_members BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'identities';
END;
CREATE TRIGGER group_members_update_generation AFTER UPDATE ON group_members BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'identities';
END;
CREATE TRIGGER group_members_delete_generation AFTER DELETE ON group_members BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'identities';
END;

-- Sessions: an end, a rotation, or any edit that makes a session older than a copy in memory
-- invalidates (a new session is simply not yet in memory, and a touch only moves last_seen_at
-- forward, so a remembered copy is merely older: see auth/sessions.rs).
CREATE TRIGGER sessions_delete_generation AFTER DELETE ON sessions BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'sessions';
END;
CREATE TRIGGER sessions_update_generation AFTER UPDATE ON sessions
    WHEN NEW.id_hash <> OLD.id_hash OR NEW.csrf_token <> OLD.csrf_token OR NEW.user_id <> OLD.user_id
    OR NEW.created_at <> OLD.created_at OR NEW.last_seen_at < OLD.last_seen_at
BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'sessions';
END;
