-- Generations of the rows every instance keeps in memory (src/store/cache.rs): bumped by
-- row-level triggers for every row a write of a cached table touches (as SQLite's, which are
-- row-level only; a statement that touches no row bumps nothing), so no write path (admin
-- page, command line, another instance) can leave an instance serving an old value. The mapping rules keep their
-- own generation in rule_set_state.
CREATE TABLE cache_generations (
    name TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO cache_generations (name, generation) VALUES
    ('region_controls', 1), ('role_session_limits', 1), ('signing_keys', 1), ('identities', 1),
    ('sessions', 1);

CREATE FUNCTION bump_cache_generation() RETURNS trigger AS $$
BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = TG_ARGV[0];
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER region_controls_generation AFTER INSERT OR UPDATE OR DELETE ON region_controls
    FOR EACH ROW EXECUTE FUNCTION bump_cache_generation('region_controls');
CREATE TRIGGER role_session_limits_generation AFTER INSERT OR UPDATE OR DELETE ON role_session_limits
    FOR EACH ROW EXECUTE FUNCTION bump_cache_generation('role_session_limits');
CREATE TRIGGER signing_keys_generation AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION bump_cache_generation('signing_keys');
CREATE TRIGGER users_generation AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION bump_cache_generation('identities');
CREATE TRIGGER groups_generation AFTER INSERT OR UPDATE OR DELETE ON groups
    FOR EACH ROW EXECUTE FUNCTION bump_cache_generation('identities');
CREATE TRIGGER group_members_generation AFTER INSERT OR UPDATE OR DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION bump_cache_generation('identities');

-- Sessions: an end, a rotation, or any edit that makes a session older than a copy in memory
-- invalidates (a new session is simply not yet in memory, and a touch only moves last_seen_at
-- forward, so a remembered copy is merely older: see auth/sessions.rs).
CREATE TRIGGER sessions_delete_generation AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION bump_cache_generation('sessions');
CREATE TRIGGER sessions_update_generation AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (NEW.id_hash <> OLD.id_hash OR NEW.csrf_token <> OLD.csrf_token OR NEW.user_id <> OLD.user_id
    OR NEW.created_at <> OLD.created_at OR NEW.last_seen_at < OLD.last_seen_at)
    EXECUTE FUNCTION bump_cache_generation('sessions');
