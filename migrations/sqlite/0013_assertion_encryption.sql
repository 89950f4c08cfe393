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
CREATE TRIGGER assertion_encryption_insert_generation AFTER INSERT ON assertion_encryption BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'assertion_encryption';
END;
CREATE TRIGGER assertion_encryption_update_generation AFTER UPDATE ON assertion_encryption BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'assertion_encryption';
END;
CREATE TRIGGER assertion_encryption_delete_generation AFTER DELETE ON assertion_encryption BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = 'assertion_encryption';
END;
