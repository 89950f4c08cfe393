//! Roles a person pinned to the top of their portal.

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
}
