//! The IAM SAML providers that take encrypted assertions, by provider ARN, kept in memory by
//! every instance (a generation bumped by triggers says when to read them again).

use std::sync::Arc;

use super::{on_pool, Store, StoreError};

/// One encrypting SAML provider.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EncryptionRecord {
    pub provider_arn: String,
    /// The provider's IdP ID, as in its ACS URL `…/saml/acs/<IdP ID>`.
    pub idp_id: String,
    /// The certificate AWS publishes for the provider (PEM).
    pub certificate: String,
    pub updated_at: i64,
    pub updated_by: String,
}

impl Store {
    /// Every encrypting provider, from memory when nothing changed.
    pub async fn assertion_encryption(&self) -> Result<Arc<Vec<EncryptionRecord>>, StoreError> {
        let generation = self.generations().await?.assertion_encryption;
        if let Some(all) = self.cache.assertion_encryption.get(generation) {
            return Ok(all);
        }
        let rows: Vec<EncryptionRecord> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT provider_arn, idp_id, certificate, updated_at, updated_by \
             FROM assertion_encryption ORDER BY provider_arn"
        )
        .fetch_all(pool)
        .await?);
        let rows = Arc::new(rows);
        self.cache
            .assertion_encryption
            .put(generation, rows.clone());
        Ok(rows)
    }

    /// (provider ARN, IdP ID) of every provider that takes encrypted assertions: what the
    /// trust policies add ACS URLs for.
    pub async fn encrypting_providers(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .assertion_encryption()
            .await?
            .iter()
            .map(|r| (r.provider_arn.clone(), r.idp_id.clone()))
            .collect())
    }

    /// Sets (or replaces) a provider's encryption; audited.
    pub async fn set_assertion_encryption(
        &self,
        record: &EncryptionRecord,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO assertion_encryption (provider_arn, idp_id, certificate, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider_arn) DO UPDATE SET idp_id = $2, \
             certificate = $3, updated_at = $4, updated_by = $5"
        )
        .bind(&record.provider_arn)
        .bind(&record.idp_id)
        .bind(&record.certificate)
        .bind(record.updated_at)
        .bind(&record.updated_by)
        .execute(pool)
        .await
        .map(|_| ())?
        });
        self.record_admin_change(
            &record.updated_by,
            "assertion_encryption",
            &record.provider_arn,
            "set",
            serde_json::json!({"idp_id": record.idp_id, "certificate_sha256": fingerprint}),
            record.updated_at,
        )
        .await;
        Ok(())
    }

    /// Stops encrypting for a provider; `false` when it was not set. Audited.
    pub async fn remove_assertion_encryption(
        &self,
        provider_arn: &str,
        actor: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, |pool| sqlx::query(
            "DELETE FROM assertion_encryption WHERE provider_arn = $1"
        )
        .bind(provider_arn)
        .execute(pool)
        .await?
        .rows_affected());
        if done > 0 {
            self.record_admin_change(
                actor,
                "assertion_encryption",
                provider_arn,
                "remove",
                serde_json::json!({}),
                at,
            )
            .await;
        }
        Ok(done > 0)
    }
}
