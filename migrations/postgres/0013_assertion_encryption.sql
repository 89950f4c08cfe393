-- IAM SAML providers that take encrypted assertions, by provider ARN (an account may have
-- several, and rules choose one per role): the provider's IdP ID (its ACS URL is
-- https://<region>.signin.aws.amazon.com/saml/acs/<IdP ID>) and the certificate AWS publishes
-- for it. Cached by every instance (cache_generations).
CREATE TABLE assertion_encryption (
    provider_arn TEXT PRIMARY KEY,
    idp_id TEXT NOT NULL,
    certificate TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
INSERT INTO cache_generations (name, generation) VALUES ('assertion_encryption', 1);
CREATE TRIGGER assertion_encryption_generation AFTER INSERT OR UPDATE OR DELETE ON assertion_encryption
    FOR EACH ROW EXECUTE FUNCTION bump_cache_generation('assertion_encryption');
