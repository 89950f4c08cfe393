//! OIDC sign-ins under way: the state, nonce and PKCE verifier between the redirect to the
//! provider and its callback, taken exactly once.

use super::{on_pool, Store, StoreError};

/// An OIDC sign-in under way.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OidcLogin {
    pub state_hash: String,
    pub provider: String,
    pub browser_hash: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub next: String,
    pub created_at: i64,
}

impl Store {
    /// Remembers an OIDC sign-in until its callback.
    pub async fn insert_oidc_login(&self, l: &OidcLogin) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO oidc_logins (state_hash, provider, browser_hash, pkce_verifier, nonce, next, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&l.state_hash)
            .bind(&l.provider)
            .bind(&l.browser_hash)
            .bind(&l.pkce_verifier)
            .bind(&l.nonce)
            .bind(&l.next)
            .bind(l.created_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Forgets OIDC sign-ins started before `cutoff` and never finished.
    pub async fn prune_oidc_logins(&self, cutoff: i64) -> Result<u64, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query(
            "DELETE FROM oidc_logins WHERE created_at < $1"
        )
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected()))
    }

    /// Takes (reads and deletes) an OIDC sign-in: each state is good for one callback.
    pub async fn take_oidc_login(&self, state_hash: &str) -> Result<Option<OidcLogin>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, OidcLogin>(
            "DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING state_hash, provider, browser_hash, \
             pkce_verifier, nonce, next, created_at"
        )
        .bind(state_hash)
        .fetch_optional(pool)
        .await?)
        })
    }
}
