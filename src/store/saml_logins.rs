//! SAML sign-ins under way (the AuthnRequest a browser waits for, taken once), the assertion
//! IDs already consumed (the replay cache every instance shares), and what single logout
//! needs about a SAML session.

use super::{on_pool, Store, StoreError};

/// A SAML sign-in under way.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SamlLogin {
    pub browser_hash: String,
    pub source: String,
    pub request_id: String,
    pub next: String,
    pub created_at: i64,
}

/// The identity-provider session behind a broker session, for single logout.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SamlSession {
    pub session_hash: String,
    pub source: String,
    pub name_id: String,
    pub name_id_format: String,
    pub session_index: Option<String>,
    pub created_at: i64,
}

impl Store {
    /// Remembers the request a browser is waiting for (a newer start in the same browser
    /// replaces it).
    pub async fn insert_saml_login(&self, l: &SamlLogin) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM saml_logins WHERE browser_hash = $1")
                .bind(&l.browser_hash)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO saml_logins (browser_hash, source, request_id, next, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&l.browser_hash)
            .bind(&l.source)
            .bind(&l.request_id)
            .bind(&l.next)
            .bind(l.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Takes (reads and deletes) the sign-in this browser started at `source`, if any.
    pub async fn take_saml_login(
        &self,
        browser_hash: &str,
        source: &str,
    ) -> Result<Option<SamlLogin>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, SamlLogin>(
                "DELETE FROM saml_logins WHERE browser_hash = $1 AND source = $2 \
                 RETURNING browser_hash, source, request_id, next, created_at",
            )
            .bind(browser_hash)
            .bind(source)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Records an assertion as consumed until `expires_at`; `false` when it already was (a
    /// replay), on this instance or another.
    pub async fn consume_assertion(
        &self,
        issuer: &str,
        assertion_id: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let inserted = sqlx::query(
                "INSERT INTO saml_assertions (issuer, assertion_id, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (issuer, assertion_id) DO NOTHING",
            )
            .bind(issuer)
            .bind(assertion_id)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(inserted == 1)
        })
    }

    /// Remembers the identity-provider session behind a broker session.
    pub async fn insert_saml_session(&self, s: &SamlSession) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO saml_sessions (session_hash, source, name_id, name_id_format, session_index, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&s.session_hash)
            .bind(&s.source)
            .bind(&s.name_id)
            .bind(&s.name_id_format)
            .bind(&s.session_index)
            .bind(s.created_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Takes the identity-provider session behind a broker session (at sign-out).
    pub async fn take_saml_session(
        &self,
        session_hash: &str,
    ) -> Result<Option<SamlSession>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, SamlSession>(
                "DELETE FROM saml_sessions WHERE session_hash = $1 RETURNING session_hash, source, \
                 name_id, name_id_format, session_index, created_at",
            )
            .bind(session_hash)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Forgets SAML sign-ins started before `started_before`, assertion IDs past their
    /// expiry, and SAML session records older than `sessions_before`.
    pub async fn prune_saml(
        &self,
        started_before: i64,
        now: i64,
        sessions_before: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM saml_logins WHERE created_at < $1")
                .bind(started_before)
                .execute(pool)
                .await?;
            sqlx::query("DELETE FROM saml_assertions WHERE expires_at < $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query("DELETE FROM saml_sessions WHERE created_at < $1")
                .bind(sessions_before)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}
