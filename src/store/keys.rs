//! SAML signing keys (the private half encrypted), shared by every instance on the database.

use super::{on_pool, Store, StoreError};

/// A stored signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRecord {
    pub kid: String,
    pub state: String,
    pub certificate_pem: String,
    pub private_key_enc: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

const KEY_COLUMNS: &str =
    "kid, state, certificate_pem, private_key_enc, created_at, activated_at, retired_at";

impl Store {
    /// Stores a new key in the given state.
    pub async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.insert_key_row(key, "").await.map(|_| ())
    }

    /// Stores the installation's first key, unless any key exists: `false` when another
    /// instance stored one first. The check and the insert are one statement, and the unique
    /// index on the active key (migration 0010) refuses a second concurrent first key.
    pub async fn insert_first_key(&self, key: &KeyRecord) -> Result<bool, StoreError> {
        match self
            .insert_key_row(key, " WHERE NOT EXISTS (SELECT 1 FROM signing_keys)")
            .await
        {
            Ok(inserted) => Ok(inserted),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The one insert of a key row, under `condition` (empty: always); `true` when stored.
    async fn insert_key_row(&self, key: &KeyRecord, condition: &str) -> Result<bool, StoreError> {
        let sql = format!(
            "INSERT INTO signing_keys (kid, state, certificate_pem, private_key_enc, created_at, \
             activated_at, retired_at) SELECT $1, $2, $3, $4, $5, $6, $7{condition}"
        );
        on_pool!(self, |pool| {
            let done = sqlx::query(&sql)
                .bind(&key.kid)
                .bind(&key.state)
                .bind(&key.certificate_pem)
                .bind(&key.private_key_enc)
                .bind(key.created_at)
                .bind(key.activated_at)
                .bind(key.retired_at)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// All keys, oldest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid");
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, KeyRecord>(&sql)
            .fetch_all(pool)
            .await?))
    }

    /// The key that signs now.
    pub async fn active_key(&self) -> Result<Option<KeyRecord>, StoreError> {
        let generation = self.generations().await?.signing_keys;
        if let Some(key) = self.cache.active_key.get(generation) {
            return Ok(key);
        }
        let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys WHERE state = 'active'");
        let key: Option<KeyRecord> = on_pool!(self, |pool| sqlx::query_as(&sql)
            .fetch_optional(pool)
            .await?);
        self.cache.active_key.put(generation, key.clone());
        Ok(key)
    }

    /// Makes `kid` the signing key; the previous one stays published. One transaction, so there
    /// is never zero or two active keys.
    pub async fn activate_key(&self, kid: &str, now: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let found: Option<(String,)> =
                sqlx::query_as("SELECT state FROM signing_keys WHERE kid = $1")
                    .bind(kid)
                    .fetch_optional(&mut *tx)
                    .await?;
            match found {
                None => return Err(StoreError::NotFound(format!("key `{kid}`"))),
                Some((state,)) if state == "retired" => {
                    return Err(StoreError::Invalid(format!(
                    "key `{kid}` is retired and no longer in the metadata; add a new key instead"
                )))
                }
                _ => {}
            }
            sqlx::query("UPDATE signing_keys SET state = 'published' WHERE state = 'active'")
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE signing_keys SET state = 'active', activated_at = $2 WHERE kid = $1",
            )
            .bind(kid)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Replaces the sealed private halves `(kid, sealed as read, sealed anew)` in one
    /// transaction. A key whose sealed value changed since it was read (another instance
    /// resealed or rotated meanwhile) makes the whole change fail with nothing written.
    pub async fn reseal_keys(
        &self,
        changes: &[(String, String, String)],
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (kid, old, new) in changes {
                let done = sqlx::query(
                    "UPDATE signing_keys SET private_key_enc = $3 WHERE kid = $1 AND private_key_enc = $2",
                )
                .bind(kid)
                .bind(old)
                .bind(new)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 0 {
                    return Err(StoreError::Stale(format!(
                        "key `{kid}` changed while it was being resealed; nothing was changed, run the command again"
                    )));
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Takes a published key out of the metadata. The active key cannot be retired.
    pub async fn retire_key(&self, kid: &str, now: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let found: Option<(String,)> =
                sqlx::query_as("SELECT state FROM signing_keys WHERE kid = $1")
                    .bind(kid)
                    .fetch_optional(pool)
                    .await?;
            match found {
                None => Err(StoreError::NotFound(format!("key `{kid}`"))),
                Some((state,)) if state == "active" => Err(StoreError::Invalid(format!(
                    "key `{kid}` is the one signing now; activate another key first"
                ))),
                Some(_) => {
                    sqlx::query(
                        "UPDATE signing_keys SET state = 'retired', retired_at = $2 WHERE kid = $1",
                    )
                    .bind(kid)
                    .bind(now)
                    .execute(pool)
                    .await?;
                    Ok(())
                }
            }
        })
    }
}
