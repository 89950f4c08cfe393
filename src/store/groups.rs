//! Groups and memberships, with who granted each (the local directory or a source).

use super::users::{revoke_access, AccountChange, Revoked};
use super::{on_pool, Store, StoreError};

/// A user's membership of one group, and who granted it: `local` (the command line, the
/// bootstrap) or the id of the source whose sign-in reported it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Membership {
    pub group: String,
    pub source: String,
}

/// A group row with its member count.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRecord {
    pub id: i64,
    pub name: String,
    pub members: i64,
}

impl Store {
    /// Creates a group; `Conflict` when it exists.
    pub async fn create_group(&self, name: &str, now: i64) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO groups (name, created_at) VALUES ($1, $2) RETURNING id",
            )
            .bind(name)
            .bind(now)
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// All groups with their member counts, by name.
    pub async fn list_groups(&self) -> Result<Vec<GroupRecord>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, GroupRecord>(
            "SELECT g.id, g.name, COUNT(m.user_id) AS members FROM groups g \
             LEFT JOIN group_members m ON m.group_id = g.id GROUP BY g.id, g.name ORDER BY g.name"
        )
        .fetch_all(pool)
        .await?))
    }

    /// Adds or removes a user from a group; `NotFound` names what does not exist. Removing a
    /// member ends their sessions and revokes their API tokens in the same transaction (with
    /// the audit event): both carry the groups, and so the roles, of the moment they began.
    pub async fn set_membership(
        &self,
        group: &str,
        username: &str,
        member: bool,
        change: &AccountChange<'_>,
    ) -> Result<Revoked, StoreError> {
        on_pool!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                let user: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM users WHERE username = $1")
                        .bind(username)
                        .fetch_optional(&mut *tx)
                        .await?;
                let (user_id,) =
                    user.ok_or_else(|| StoreError::NotFound(format!("user `{username}`")))?;
                let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM groups WHERE name = $1")
                    .bind(group)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (group_id,) =
                    found.ok_or_else(|| StoreError::NotFound(format!("group `{group}`")))?;
                if member {
                    // A local grant stays local even where a source reported the same group:
                    // the source's next sign-in must not take it away, and only local grants
                    // make admins.
                    sqlx::query(
                        "INSERT INTO group_members (group_id, user_id, source) VALUES ($1, $2, 'local') \
                         ON CONFLICT (group_id, user_id) DO UPDATE SET source = 'local'",
                    )
                    .bind(group_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok(Revoked::default());
                }
                let removed =
                    sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                        .bind(group_id)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                if removed == 0 {
                    tx.commit().await?;
                    return Ok(Revoked::default());
                }
                revoke_access(
                    tx,
                    user_id,
                    username,
                    change,
                    "removed_from_group",
                    "",
                    serde_json::json!({ "group": group }),
                )
                .await
            }
            .await
        })
    }

    /// Names of the groups a user belongs to, sorted.
    pub async fn groups_of_user(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        on_pool!(self, |pool| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id \
                 WHERE m.user_id = $1 ORDER BY g.name",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(n,)| n).collect())
        })
    }
}

impl Store {
    /// A user's memberships with who granted each, by group name.
    pub async fn memberships_of_user(&self, user_id: i64) -> Result<Vec<Membership>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, Membership>(
            "SELECT g.name AS \"group\", m.source FROM groups g \
             JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name"
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?))
    }

    /// A person's row and memberships together, from memory while no user, group or
    /// membership changed anywhere (the two queries behind every signed-in request).
    pub async fn user_with_memberships(
        &self,
        user_id: i64,
    ) -> Result<Option<super::cache::CachedIdentity>, StoreError> {
        let generation = self.generations().await?.identities;
        if let Some(found) = self.cache.identities.get(generation, &user_id) {
            return Ok(Some(found));
        }
        let Some(user) = self.user_by_id(user_id).await? else {
            return Ok(None);
        };
        let memberships = self.memberships_of_user(user_id).await?;
        let found = std::sync::Arc::new((user, memberships));
        self.cache
            .identities
            .put(generation, user_id, found.clone());
        Ok(Some(found))
    }

    /// `(user id, granted by)` of every member of a group.
    pub async fn members_of_group(&self, group: &str) -> Result<Vec<(i64, String)>, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, (i64, String)>(
            "SELECT m.user_id, m.source FROM group_members m \
             JOIN groups g ON g.id = m.group_id WHERE g.name = $1"
        )
        .bind(group)
        .fetch_all(pool)
        .await?))
    }

    /// `(username, granted by)` of every member of a group, by username; `None` when there is
    /// no such group.
    pub async fn group_members(
        &self,
        group: &str,
    ) -> Result<Option<Vec<(String, String)>>, StoreError> {
        on_pool!(self, |pool| {
            let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM groups WHERE name = $1")
                .bind(group)
                .fetch_optional(pool)
                .await?;
            let Some((id,)) = found else {
                return Ok(None);
            };
            Ok(Some(
                sqlx::query_as::<_, (String, String)>(
                    "SELECT u.username, m.source FROM group_members m \
                     JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 ORDER BY u.username",
                )
                .bind(id)
                .fetch_all(pool)
                .await?,
            ))
        })
    }

    /// Replaces the memberships a source gave a user with `groups` (local grants stay), in one
    /// transaction, without counting as a sign-in: an API token's re-check of the directory.
    pub async fn replace_source_groups(
        &self,
        user_id: i64,
        source: &str,
        groups: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            replace_groups_of_source(&mut tx, user_id, source, groups, now).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

/// Inside the caller's transaction: replaces the memberships `source` gave a user with
/// `groups` (creating missing groups); memberships granted locally or by other sources stay.
/// Shared by provisioning at sign-in and the API token re-check, on either engine.
pub(super) async fn replace_groups_of_source<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    user_id: i64,
    source: &str,
    groups: &[String],
    now: i64,
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query::<DB>("DELETE FROM group_members WHERE user_id = $1 AND source = $2")
        .bind(user_id)
        .bind(source)
        .execute(&mut **tx)
        .await?;
    for group in groups {
        sqlx::query::<DB>(
            "INSERT INTO groups (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(group.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query::<DB>(
            "INSERT INTO group_members (group_id, user_id, source) \
             SELECT id, $2, $3 FROM groups WHERE name = $1 ON CONFLICT DO NOTHING",
        )
        .bind(group.as_str())
        .bind(user_id)
        .bind(source)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
