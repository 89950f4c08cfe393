//! Provisioning at sign-in: a person vouched for by a source becomes (or updates) a user, with
//! that source's groups, in one transaction.

use super::groups::replace_groups_of_source;
use super::{on_pool, Store, StoreError};

/// A person as an external source describes them at sign-in.
#[derive(Debug, Clone)]
pub struct ExternalProfile<'a> {
    pub source: &'a str,
    pub subject: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub groups: &'a [String],
    pub attributes: &'a std::collections::BTreeMap<String, String>,
}

impl Store {
    /// Creates or updates the user an external source vouches for, records the sign-in, and
    /// replaces the memberships that source gave (memberships granted locally stay), all in
    /// one transaction. Returns the user id.
    pub async fn provision_external(
        &self,
        p: &ExternalProfile<'_>,
        now: i64,
    ) -> Result<Result<i64, ProvisionRefused>, StoreError> {
        let attributes = serde_json::to_string(p.attributes).unwrap_or_else(|_| "{}".into());
        on_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            // The first statement writes, so the transaction holds the write lock throughout.
            let updated: Option<(i64,)> = sqlx::query_as(
                "UPDATE users SET last_login_at = $3, updated_at = $3 \
                 WHERE source = $1 AND subject = $2 RETURNING id",
            )
            .bind(p.source)
            .bind(p.subject)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let owner: Option<(i64, String)> =
                sqlx::query_as("SELECT id, source FROM users WHERE username = $1")
                    .bind(p.username)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((owner_id, owner_source)) = owner {
                if updated.is_none_or(|(id,)| id != owner_id) {
                    return Ok(Err(ProvisionRefused::UsernameTaken { owner_source }));
                }
            }
            if let Some((id,)) = updated {
                sqlx::query(
                    "UPDATE users SET username = $2, email = $3, display_name = $4, attributes = $5 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(p.username)
                .bind(p.email)
                .bind(p.display_name)
                .bind(&attributes)
                .execute(&mut *tx)
                .await?;
            }
            let id = match updated {
                Some((id,)) => id,
                None => {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO users (username, display_name, email, password_hash, \
                         must_change_password, created_at, updated_at, source, subject, last_login_at, \
                         attributes) VALUES ($1, $2, $3, NULL, FALSE, $4, $4, $5, $6, $4, $7) RETURNING id",
                    )
                    .bind(p.username)
                    .bind(p.display_name)
                    .bind(p.email)
                    .bind(now)
                    .bind(p.source)
                    .bind(p.subject)
                    .bind(&attributes)
                    .fetch_one(&mut *tx)
                    .await?;
                    id
                }
            };
            replace_groups_of_source(&mut tx, id, p.source, p.groups, now).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(Ok(id))
        }
        .await
        })
    }
}

/// Why an external user could not be provisioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionRefused {
    /// The username belongs to a user of another source (or a local one).
    UsernameTaken { owner_source: String },
}
