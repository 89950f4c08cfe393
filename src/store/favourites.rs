//! Roles a person pinned to the top of their portal, and the ones they used last.

use super::{on_pool, Store, StoreError};

impl Store {
    /// The role ARNs a user pinned.
    pub async fn favourites(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        on_pool!(self, |pool| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT role_arn FROM favourites WHERE user_id = $1 ORDER BY created_at, role_arn",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(r,)| r).collect())
        })
    }

    /// Pins or unpins a role for a user.
    pub async fn set_favourite(
        &self,
        user_id: i64,
        role_arn: &str,
        on: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            if on {
                sqlx::query(
                    "INSERT INTO favourites (user_id, role_arn, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, role_arn) DO NOTHING",
                )
                .bind(user_id)
                .bind(role_arn)
                .bind(now)
                .execute(pool)
                .await?;
            } else {
                sqlx::query("DELETE FROM favourites WHERE user_id = $1 AND role_arn = $2")
                    .bind(user_id)
                    .bind(role_arn)
                    .execute(pool)
                    .await?;
            }
            Ok(())
        })
    }

    /// The roles a person opened or took credentials for since `since` (console sign-ins, STS
    /// credentials, federation links), most recent first. Read from the audit log, which
    /// records every such use already, so the sign-in path writes nothing more for this.
    pub async fn recently_used_roles(
        &self,
        username: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        use super::event_kind::{ASSERTION, FEDERATION, STS};
        on_pool!(self, |pool| {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT role_arn, MAX(at) AS last FROM audit_events \
                 WHERE subject = $1 AND at >= $2 AND outcome = 'success' AND role_arn <> '' \
                 AND event_type IN ($3, $4, $5) \
                 GROUP BY role_arn ORDER BY last DESC, role_arn LIMIT $6",
            )
            .bind(username)
            .bind(since)
            .bind(ASSERTION)
            .bind(STS)
            .bind(FEDERATION)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(r, _)| r).collect())
        })
    }
}
