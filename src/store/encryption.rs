//! The IAM SAML providers that take encrypted assertions, per AWS account, kept in memory by
//! every instance (a generation bumped by triggers says when to read them again).

use std::sync::Arc;

use super::{on_pool, Store, StoreError};

/// One account's encrypting SAML provider.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EncryptionRecord {
    pub account_id: String,
    /// The provider's IdP ID, as in its ACS URL `…/saml/acs/<IdP ID>`.
    pub idp_id: String,
    /// The certificate AWS publishes for the provider (PEM).
    pub certificate: String,
    pub updated_at: i64,
    pub updated_by: String,
}

impl Store {
    /// Every account's encrypting provider, from memory when nothing changed.
    pub async fn assertion_encryption(&self) -> Result<Arc<Vec<EncryptionRecord>>, StoreError> {
        let generation = self.generations().await?.assertion_encryption;
        if let Some(all) = self.cache.assertion_encryption.get(generation) {
            return Ok(all);
        }
        let rows: Vec<EncryptionRecord> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT account_id, idp_id, certificate, updated_at, updated_by \
             FROM assertion_encryption ORDER BY account_id"
        )
        .fetch_all(pool)
        .await?);
        let rows = Arc::new(rows);
        self.cache
            .assertion_encryption
            .put(generation, rows.clone());
        Ok(rows)
    }

    /// (account, IdP ID) of every provider that takes encrypted assertions: what the trust
    /// policies add ACS URLs for.
    pub async fn encrypting_providers(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .assertion_encryption()
            .await?
            .iter()
            .map(|r| (r.account_id.clone(), r.idp_id.clone()))
            .collect())
    }

    /// Sets (or replaces) an account's encrypting provider; audited.
    pub async fn set_assertion_encryption(
        &self,
        record: &EncryptionRecord,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO assertion_encryption (account_id, idp_id, certificate, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE SET idp_id = $2, \
             certificate = $3, updated_at = $4, updated_by = $5"
        )
        .bind(&record.account_id)
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
            &record.account_id,
            "set",
            serde_json::json!({"idp_id": record.idp_id, "certificate_sha256": fingerprint}),
            record.updated_at,
        )
        .await;
        Ok(())
    }

    /// Stops encrypting for an account; `false` when it had no provider set. Audited.
    pub async fn remove_assertion_encryption(
        &self,
        account_id: &str,
        actor: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, |pool| sqlx::query(
            "DELETE FROM assertion_encryption WHERE account_id = $1"
        )
        .bind(account_id)
        .execute(pool)
        .await?
        .rows_affected());
        if done > 0 {
            self.record_admin_change(
                actor,
                "assertion_encryption",
                account_id,
                "remove",
                serde_json::json!({}),
                at,
            )
            .await;
        }
        Ok(done > 0)
    }
}
