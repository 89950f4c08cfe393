//! Server-side sessions and the sign-in failure counters used for rate limiting.
//!
//! Sessions are stored by the SHA-256 of their cookie value, so a copy of the database does not
//! hand out live sessions. Failure counters live in the database rather than in memory so that
//! several broker instances behind one load balancer enforce one limit.

use super::{on_pool, Store, StoreError};

/// A stored session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    pub id_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub client_addr: String,
    pub user_agent: String,
}

impl Store {
    /// Stores a new session.
    pub async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, \
                 client_addr, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&s.id_hash)
            .bind(s.user_id)
            .bind(&s.csrf_token)
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .bind(&s.client_addr)
            .bind(&s.user_agent)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Finds a session by the hash of its cookie value.
    pub async fn session_by_hash(
        &self,
        id_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, SessionRecord>(
            "SELECT id_hash, user_id, csrf_token, created_at, last_seen_at, client_addr, user_agent \
             FROM sessions WHERE id_hash = $1"
        )
        .bind(id_hash)
        .fetch_optional(pool)
        .await?)
        })
    }

    /// Records activity on a session.
    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Ends one session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Removes sessions that can no longer be valid and failure records older than `failures_before`.
    pub async fn prune(
        &self,
        idle_before: i64,
        created_before: i64,
        failures_before: i64,
    ) -> Result<u64, StoreError> {
        on_pool!(self, |pool| {
            let sessions =
                sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
                    .bind(idle_before)
                    .bind(created_before)
                    .execute(pool)
                    .await?
                    .rows_affected();
            let failures = sqlx::query("DELETE FROM login_failures WHERE at < $1")
                .bind(failures_before)
                .execute(pool)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM limit_locks WHERE used_at < $1")
                .bind(failures_before)
                .execute(pool)
                .await?;
            Ok(sessions + failures)
        })
    }
}

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
