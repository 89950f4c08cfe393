//! Local and provisioned users: creation, passwords, disabling, and revoking what a user holds
//! (sessions, API tokens) in the same transaction as the change that calls for it.

use super::engine::RowsAffected;
use super::{on_pool, Store, StoreError};

/// A user row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// PHC-format argon2id hash; `None` for accounts that cannot sign in with a password.
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Attributes an external source gave, as a JSON object of strings.
    pub attributes: String,
    /// `local`, or the id of the LDAP/OIDC source that vouches for this person.
    pub source: String,
    /// The last interactive sign-in through an external source (Unix seconds).
    pub last_login_at: Option<i64>,
    /// The person's stable id within an external source (an LDAP entry's DN, an OIDC `sub`).
    pub subject: Option<String>,
}

const USER_COLUMNS: &str = "id, username, display_name, email, password_hash, disabled, \
                            must_change_password, created_at, updated_at, attributes, source, \
                            last_login_at, subject";

/// Who changes a person's account, and when; written into the audit event of the change.
#[derive(Debug, Clone)]
pub struct AccountChange<'a> {
    /// The username of whoever acts (`cli:<login>` from the command line).
    pub actor: &'a str,
    pub at: i64,
    /// The session a person uses to change their own password: it survives under a new id.
    pub rotate: Option<SessionRotation<'a>>,
}

impl<'a> AccountChange<'a> {
    /// A change by `actor` (an admin, the command line) that keeps no session.
    pub fn by(actor: &'a str, at: i64) -> Self {
        Self {
            actor,
            at,
            rotate: None,
        }
    }
}

/// A session kept across a password change, under a fresh id and CSRF token.
#[derive(Debug, Clone)]
pub struct SessionRotation<'a> {
    pub old_hash: &'a str,
    pub new_hash: &'a str,
    pub new_csrf: &'a str,
}

/// What a change to an account ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Revoked {
    pub sessions: u64,
    pub tokens: u64,
    pub cli_sign_ins: u64,
}

/// Inside the caller's transaction: ends a user's sessions (but `keep`), revokes their live
/// API tokens, writes the `access.revoked` audit event saying how many and why, commits, and
/// emits the event's log line. Generic over the engine, so both run the same SQL.
pub(super) async fn revoke_access<DB>(
    mut tx: sqlx::Transaction<'_, DB>,
    user_id: i64,
    username: &str,
    change: &AccountChange<'_>,
    cause: &str,
    keep: &str,
    extra: serde_json::Value,
) -> Result<Revoked, StoreError>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DB::QueryResult: RowsAffected,
{
    let sessions = sqlx::query::<DB>("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user_id)
        .bind(keep)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let tokens = sqlx::query::<DB>(
        "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(change.at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let cli_grants = sqlx::query::<DB>(
        "UPDATE cli_grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(change.at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // A code approved a moment ago must not become a new sign-in after this.
    sqlx::query::<DB>("DELETE FROM oauth_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let mut details = serde_json::json!({
        "cause": cause,
        "sessions_ended": sessions,
        "tokens_revoked": tokens,
        "cli_sign_ins_revoked": cli_grants,
        "kept_current_session": change.rotate.is_some(),
    });
    if let (Some(d), serde_json::Value::Object(extra)) = (details.as_object_mut(), extra) {
        d.extend(extra);
    }
    let event = crate::store::NewAuditEvent {
        event_type: super::event_kind::REVOKED.into(),
        actor: change.actor.to_string(),
        subject: username.to_string(),
        outcome: "success".into(),
        details,
        ..crate::store::NewAuditEvent::default()
    };
    let details_text = event.details.to_string();
    sqlx::query::<DB>(
        "INSERT INTO audit_events (at, event_type, actor, subject, role_arn, account_id, outcome, \
         source_addr, user_agent, details) VALUES ($1, $2, $3, $4, '', '', 'success', '', '', $5)",
    )
    .bind(change.at)
    .bind(event.event_type.as_str())
    .bind(event.actor.as_str())
    .bind(event.subject.as_str())
    .bind(details_text.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    super::emit_event(&event);
    Ok(Revoked {
        sessions,
        tokens,
        cli_sign_ins: cli_grants,
    })
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    pub password_hash: Option<&'a str>,
    pub must_change_password: bool,
}

impl Store {
    /// Creates a user and puts it in the given groups (created if missing), all or nothing.
    pub async fn create_user(
        &self,
        user: &NewUser<'_>,
        groups: &[&str],
        now: i64,
    ) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO users (username, display_name, email, password_hash, \
                 must_change_password, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            )
            .bind(user.username)
            .bind(user.display_name)
            .bind(user.email)
            .bind(user.password_hash)
            .bind(user.must_change_password)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            for group in groups {
                sqlx::query(
                    "INSERT INTO groups (name, created_at) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(group)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO group_members (group_id, user_id) \
                     SELECT id, $2 FROM groups WHERE name = $1 ON CONFLICT DO NOTHING",
                )
                .bind(group)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Looks a user up by normalised username.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, UserRecord>(&sql)
            .bind(username)
            .fetch_optional(pool)
            .await?))
    }

    /// Looks a user up by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, UserRecord>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// All users, by username.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, UserRecord>(&sql)
            .fetch_all(pool)
            .await?))
    }

    /// Number of users, to know whether this is a first start.
    pub async fn count_users(&self) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await?;
            Ok(n)
        })
    }

    /// Replaces a user's password hash and sets whether it must be changed at next sign-in, and
    /// in the same transaction ends the user's sessions and revokes their API tokens: whoever
    /// held the old password (or a token made with it) must not keep access. A person changing
    /// their own password keeps the session they are using, under a fresh id
    /// (`change.rotate`). The audit event saying what was revoked is part of the transaction.
    pub async fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        must_change_password: bool,
        change: &AccountChange<'_>,
    ) -> Result<Revoked, StoreError> {
        let cause = if change.rotate.is_some() {
            "password_changed"
        } else {
            "password_reset"
        };
        let done = on_pool!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                let user: Option<(i64,)> = sqlx::query_as(
                    "UPDATE users SET password_hash = $2, must_change_password = $3, updated_at = $4 \
                     WHERE username = $1 RETURNING id",
                )
                .bind(username)
                .bind(password_hash)
                .bind(must_change_password)
                .bind(change.at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((user_id,)) = user else {
                    return Ok::<_, StoreError>(None);
                };
                if let Some(r) = &change.rotate {
                    sqlx::query(
                        "UPDATE sessions SET id_hash = $3, csrf_token = $4 \
                         WHERE id_hash = $2 AND user_id = $1",
                    )
                    .bind(user_id)
                    .bind(r.old_hash)
                    .bind(r.new_hash)
                    .bind(r.new_csrf)
                    .execute(&mut *tx)
                    .await?;
                }
                let keep = change.rotate.as_ref().map_or("", |r| r.new_hash);
                revoke_access(tx, user_id, username, change, cause, keep, serde_json::json!({}))
                    .await
                    .map(Some)
            }
            .await
        });
        done?.ok_or_else(|| StoreError::NotFound(format!("user `{username}`")))
    }

    /// Disables or re-enables a user. Disabling also ends the user's sessions and revokes their
    /// API tokens, with the audit event saying so, in one transaction.
    pub async fn set_disabled(
        &self,
        username: &str,
        disabled: bool,
        change: &AccountChange<'_>,
    ) -> Result<Revoked, StoreError> {
        let done = on_pool!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                let user: Option<(i64,)> = sqlx::query_as(
                    "UPDATE users SET disabled = $2, updated_at = $3 WHERE username = $1 RETURNING id",
                )
                .bind(username)
                .bind(disabled)
                .bind(change.at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((user_id,)) = user else {
                    return Ok::<_, StoreError>(None);
                };
                if !disabled {
                    tx.commit().await?;
                    return Ok(Some(Revoked::default()));
                }
                revoke_access(tx, user_id, username, change, "disabled", "", serde_json::json!({}))
                    .await
                    .map(Some)
            }
            .await
        });
        done?.ok_or_else(|| StoreError::NotFound(format!("user `{username}`")))
    }

    /// Ends a user's sessions, API tokens and command-line sign-ins without disabling the
    /// account (a lost laptop), in one transaction, with the audit event saying so.
    pub async fn sign_out_everywhere(
        &self,
        username: &str,
        change: &AccountChange<'_>,
    ) -> Result<Revoked, StoreError> {
        let done = on_pool!(self, |pool| {
            async {
                let Some(user) = self.user_by_username(username).await? else {
                    return Ok::<_, StoreError>(None);
                };
                let tx = pool.begin().await?;
                revoke_access(
                    tx,
                    user.id,
                    username,
                    change,
                    "signed_out",
                    "",
                    serde_json::json!({}),
                )
                .await
                .map(Some)
            }
            .await
        });
        done?.ok_or_else(|| StoreError::NotFound(format!("user `{username}`")))
    }
}
