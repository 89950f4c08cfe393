-- Health of the AWS endpoints, shared by every instance on the database: sign-in Regions as
-- probed by the instance holding the probe lease, STS endpoints as marked down by whichever
-- instance saw them fail. Every instance then chooses the same Region, and a dead endpoint's
-- timeout is paid once, not once per instance.
CREATE TABLE endpoint_health (
    kind TEXT NOT NULL CHECK (kind IN ('signin', 'sts')),
    name TEXT NOT NULL,
    healthy BOOLEAN NOT NULL,
    latency_ms BIGINT,
    error TEXT,
    checked_at BIGINT NOT NULL,
    checked_by TEXT NOT NULL,
    -- STS: Unix seconds until which the endpoint is passed over (0: not down).
    down_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, name)
);

-- Who does a periodic job now (the sign-in probes): taken when free or expired, renewed by
-- its holder; another instance takes over when the holder stops renewing.
CREATE TABLE probe_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Instances keep the health in memory (src/store/cache.rs) until a change that matters.
INSERT INTO cache_generations (name, generation) VALUES ('endpoint_health', 1);
CREATE TRIGGER endpoint_health_insert_generation AFTER INSERT OR DELETE ON endpoint_health
    FOR EACH ROW EXECUTE FUNCTION bump_cache_generation('endpoint_health');
CREATE TRIGGER endpoint_health_update_generation AFTER UPDATE ON endpoint_health FOR EACH ROW
    WHEN (NEW.healthy <> OLD.healthy OR NEW.down_until <> OLD.down_until)
    EXECUTE FUNCTION bump_cache_generation('endpoint_health');
