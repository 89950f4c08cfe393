//! What STS taught the broker about roles' maximum session durations.

use std::collections::HashMap;
use std::sync::Arc;

use super::{on_pool, Store, StoreError};

/// What STS said about one role's MaxSessionDuration.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleSessionLimit {
    pub role_arn: String,
    pub max_duration: i64,
    pub refused_duration: i64,
    pub learned_at: i64,
}

impl RoleSessionLimit {
    /// Learned long enough ago (`REPROBE_AFTER_SECS`) that CLI credentials ask STS for the
    /// rule's duration again: an administrator may have raised the role's limit since.
    pub fn is_stale(&self, now: i64) -> bool {
        now - self.learned_at > crate::domain::aws::REPROBE_AFTER_SECS
    }
}

impl Store {
    /// What is known of a role's maximum session duration (every learned limit is kept in
    /// memory while none changes: one row per role STS ever refused, a small table).
    pub async fn role_session_limit(
        &self,
        role_arn: &str,
    ) -> Result<Option<RoleSessionLimit>, StoreError> {
        let generation = self.generations().await?.role_session_limits;
        let limits = match self.cache.role_session_limits.get(generation) {
            Some(limits) => limits,
            None => {
                let all = self.role_session_limits().await?;
                let limits = Arc::new(
                    all.into_iter()
                        .map(|l| (l.role_arn.clone(), l))
                        .collect::<HashMap<_, _>>(),
                );
                self.cache
                    .role_session_limits
                    .put(generation, limits.clone());
                limits
            }
        };
        Ok(limits.get(role_arn).cloned())
    }

    /// Every role STS refused a duration for, for the admin page.
    pub async fn role_session_limits(&self) -> Result<Vec<RoleSessionLimit>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, RoleSessionLimit>(
            "SELECT role_arn, max_duration, refused_duration, learned_at FROM role_session_limits \
             ORDER BY role_arn"
        )
        .fetch_all(pool)
        .await?))
    }

    /// Remembers that STS refused `refused` seconds for a role and accepted `max`.
    pub async fn set_role_session_limit(
        &self,
        role_arn: &str,
        max: i64,
        refused: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO role_session_limits (role_arn, max_duration, refused_duration, learned_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (role_arn) DO UPDATE SET max_duration = $2, \
                 refused_duration = $3, learned_at = $4",
            )
            .bind(role_arn)
            .bind(max)
            .bind(refused)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Forgets a role's learned limit (STS accepted more than it).
    pub async fn forget_role_session_limit(&self, role_arn: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM role_session_limits WHERE role_arn = $1")
                .bind(role_arn)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}
