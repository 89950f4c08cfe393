//! The command-line client's authorization codes and grants (refresh tokens as hashes only).

use super::{on_pool, Store, StoreError};

/// An authorization code as issued on the consent page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRecord {
    pub user_id: i64,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub device: String,
    pub lifetime_secs: i64,
    pub expires_at: i64,
}

/// A signed-in client on a device.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantRecord {
    pub id: i64,
    pub user_id: i64,
    pub device: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What a refresh token turned out to be.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// The current token of a grant: replaced by the new one.
    Rotated(GrantRecord),
    /// The token a grant had before its last rotation: someone holds a copy. The grant was
    /// revoked.
    Replayed(GrantRecord),
    /// No grant has it.
    Unknown,
}

const GRANT_COLUMNS: &str = "id, user_id, device, created_at, expires_at, last_used_at, revoked_at";

impl Store {
    /// Stores an authorization code (hash only).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_oauth_code(
        &self,
        code_hash: &str,
        user_id: i64,
        redirect_uri: &str,
        code_challenge: &str,
        device: &str,
        lifetime_secs: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO oauth_codes (code_hash, user_id, redirect_uri, code_challenge, device, \
                 lifetime_secs, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(code_hash)
            .bind(user_id)
            .bind(redirect_uri)
            .bind(code_challenge)
            .bind(device)
            .bind(lifetime_secs)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Takes a code: it is deleted as it is read, so it can be redeemed once, on one instance.
    pub async fn take_oauth_code(&self, code_hash: &str) -> Result<Option<CodeRecord>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, CodeRecord>(
            "DELETE FROM oauth_codes WHERE code_hash = $1 RETURNING user_id, redirect_uri, \
             code_challenge, device, lifetime_secs, expires_at",
        )
        .bind(code_hash)
        .fetch_optional(pool)
        .await?))
    }

    /// Forgets codes that were never redeemed.
    pub async fn prune_oauth_codes(&self, before: i64) -> Result<u64, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query(
            "DELETE FROM oauth_codes WHERE expires_at < $1"
        )
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected()))
    }

    /// Stores a new grant with its first refresh token (hash only).
    pub async fn create_cli_grant(
        &self,
        user_id: i64,
        device: &str,
        refresh_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO cli_grants (user_id, device, refresh_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(user_id)
            .bind(device)
            .bind(refresh_hash)
            .bind(now)
            .bind(expires_at)
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// Replaces a live grant's refresh token, or recognises a replayed one and revokes its
    /// grant. The replacement is conditional on the token presented and on the grant being
    /// live, so of two concurrent refreshes with one token only one succeeds, and a grant
    /// revoked meanwhile is not rotated.
    ///
    /// The token before the current one is accepted once more within `grace_secs` of the last
    /// rotation: a client whose answer was lost (a proxy timeout, Ctrl-C before it saved the
    /// new token) would otherwise revoke its own sign-in. Later, it is a replay.
    pub async fn rotate_cli_grant(
        &self,
        presented_hash: &str,
        new_hash: &str,
        now: i64,
        grace_secs: i64,
    ) -> Result<Rotation, StoreError> {
        let by_current = format!("SELECT {GRANT_COLUMNS} FROM cli_grants WHERE refresh_hash = $1");
        let by_previous =
            format!("SELECT {GRANT_COLUMNS} FROM cli_grants WHERE previous_hash = $1");
        let rotation: Rotation = on_pool!(self, |pool| {
            if let Some(grant) = sqlx::query_as::<_, GrantRecord>(&by_current)
                .bind(presented_hash)
                .fetch_optional(pool)
                .await?
            {
                if grant.revoked_at.is_some() || grant.expires_at <= now {
                    return Ok(Rotation::Rotated(grant));
                }
                let rotated = sqlx::query(
                    "UPDATE cli_grants SET previous_hash = refresh_hash, refresh_hash = $2, \
                     last_used_at = $3 WHERE id = $4 AND refresh_hash = $1 \
                     AND revoked_at IS NULL AND expires_at > $3",
                )
                .bind(presented_hash)
                .bind(new_hash)
                .bind(now)
                .bind(grant.id)
                .execute(pool)
                .await?
                .rows_affected();
                if rotated == 1 {
                    return Ok(Rotation::Rotated(grant));
                }
            }
            let Some(grant) = sqlx::query_as::<_, GrantRecord>(&by_previous)
                .bind(presented_hash)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(Rotation::Unknown);
            };
            let within_grace = grant.revoked_at.is_none()
                && grant.last_used_at.is_some_and(|at| now - at <= grace_secs);
            if within_grace {
                let rotated = sqlx::query(
                    "UPDATE cli_grants SET refresh_hash = $2, last_used_at = $3 \
                     WHERE id = $4 AND previous_hash = $1 AND revoked_at IS NULL \
                     AND expires_at > $3",
                )
                .bind(presented_hash)
                .bind(new_hash)
                .bind(now)
                .bind(grant.id)
                .execute(pool)
                .await?
                .rows_affected();
                if rotated == 1 {
                    return Ok(Rotation::Rotated(grant));
                }
            }
            Ok::<_, StoreError>(Rotation::Replayed(grant))
        })?;
        // A replay ends the grant and its access tokens, as a revocation on the page does.
        if let Rotation::Replayed(grant) = &rotation {
            self.revoke_cli_grant(grant.user_id, grant.id, now).await?;
        }
        Ok(rotation)
    }

    /// Forgets expired command-line access tokens (one per hour per device).
    pub async fn prune_cli_access_tokens(&self, before: i64) -> Result<u64, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query(
            "DELETE FROM api_tokens WHERE cli_grant_id IS NOT NULL AND expires_at < $1"
        )
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected()))
    }

    /// A person's grants, newest first.
    pub async fn cli_grants_of(&self, user_id: i64) -> Result<Vec<GrantRecord>, StoreError> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM cli_grants WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, GrantRecord>(&sql)
            .bind(user_id)
            .fetch_all(pool)
            .await?))
    }

    /// Everyone's live command-line sign-ins, or one person's, newest first.
    pub async fn live_cli_grants(
        &self,
        username: Option<&str>,
        now: i64,
    ) -> Result<Vec<super::OwnedGrant>, StoreError> {
        let columns = super::tokens::qualified(GRANT_COLUMNS, "g");
        let sql = format!(
            "SELECT {columns}, u.username FROM cli_grants g JOIN users u ON u.id = g.user_id \
             WHERE g.revoked_at IS NULL AND g.expires_at > $1 AND ($2 = '' OR u.username = $2) \
             ORDER BY g.created_at DESC, g.id DESC LIMIT $3"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, super::OwnedGrant>(
            &sql
        )
        .bind(now)
        .bind(username.unwrap_or(""))
        .bind(super::tokens::ADMIN_LIST_LIMIT + 1)
        .fetch_all(pool)
        .await?))
    }

    /// Revokes one of a person's live grants and the access tokens it handed out, in one
    /// transaction; false when there is no such grant.
    pub async fn revoke_cli_grant(
        &self,
        user_id: i64,
        id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let revoked = sqlx::query(
                "UPDATE cli_grants SET revoked_at = $3 WHERE id = $1 AND user_id = $2 \
                 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $2 WHERE cli_grant_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(revoked)
        })
    }
}
