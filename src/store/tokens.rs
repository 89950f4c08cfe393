//! API tokens: only the hash of each secret is stored.

use super::{on_pool, Store, StoreError};

/// A stored API token (its secret only as a hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiTokenRecord {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A live token with its owner's username, for the admin list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnedToken {
    #[sqlx(flatten)]
    pub token: ApiTokenRecord,
    pub username: String,
}

/// A live command-line sign-in with its owner's username, for the admin list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnedGrant {
    #[sqlx(flatten)]
    pub grant: super::GrantRecord,
    pub username: String,
}

/// At most this many rows of each kind on the admin list; a filter by user narrows it. The
/// queries return one more, which tells the page that there are more than it shows.
pub const ADMIN_LIST_LIMIT: i64 = 500;

/// A column list with each column named through a table alias (`a, b` → `t.a, t.b`).
pub(super) fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const TOKEN_COLUMNS: &str =
    "id, user_id, name, token_hash, scopes, created_at, expires_at, last_used_at, revoked_at";

impl Store {
    /// Stores a new token (hash only).
    pub async fn create_api_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        scopes: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        self.insert_api_token(user_id, name, token_hash, scopes, now, expires_at, None)
            .await
    }

    /// Stores an access token of a command-line grant (hash only), revoked with the grant.
    pub async fn create_cli_access_token(
        &self,
        grant: &super::GrantRecord,
        token_hash: &str,
        scopes: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        let name = format!("fedbroker-cli on {}", grant.device);
        self.insert_api_token(
            grant.user_id,
            &name,
            token_hash,
            scopes,
            now,
            expires_at,
            Some(grant.id),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_api_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        scopes: &str,
        now: i64,
        expires_at: i64,
        cli_grant_id: Option<i64>,
    ) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_at, expires_at, \
                 cli_grant_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(user_id)
            .bind(name)
            .bind(token_hash)
            .bind(scopes)
            .bind(now)
            .bind(expires_at)
            .bind(cli_grant_id)
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// A token by the hash of its secret.
    pub async fn api_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<ApiTokenRecord>, StoreError> {
        // A command-line grant's token lives only as long as its grant: checked here, at every
        // use, so a token handed out while the grant was being revoked dies with it.
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND (cli_grant_id IS NULL \
             OR cli_grant_id IN (SELECT id FROM cli_grants WHERE revoked_at IS NULL))"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, ApiTokenRecord>(&sql)
            .bind(token_hash)
            .fetch_optional(pool)
            .await?))
    }

    /// A person's own API tokens (not the ones command-line grants hand out), newest first.
    pub async fn api_tokens_of(&self, user_id: i64) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 AND cli_grant_id IS NULL \
             ORDER BY created_at DESC, id DESC"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, ApiTokenRecord>(&sql)
            .bind(user_id)
            .fetch_all(pool)
            .await?))
    }

    /// Revokes one of a user's tokens; false when there is no such live token.
    pub async fn revoke_api_token(
        &self,
        user_id: i64,
        id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query(
            "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL"
        )
        .bind(id)
        .bind(user_id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
            == 1)
        })
    }

    /// Everyone's live API tokens (not the short-lived ones command-line sign-ins hand out:
    /// those are listed and revoked with their sign-in), or one person's, newest first.
    pub async fn live_api_tokens(
        &self,
        username: Option<&str>,
        now: i64,
    ) -> Result<Vec<OwnedToken>, StoreError> {
        let columns = qualified(TOKEN_COLUMNS, "t");
        let sql = format!(
            "SELECT {columns}, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.cli_grant_id IS NULL AND t.revoked_at IS NULL AND t.expires_at > $1 \
             AND ($2 = '' OR u.username = $2) ORDER BY t.created_at DESC, t.id DESC LIMIT $3"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, OwnedToken>(&sql)
            .bind(now)
            .bind(username.unwrap_or(""))
            .bind(ADMIN_LIST_LIMIT + 1)
            .fetch_all(pool)
            .await?))
    }

    /// Notes a token's use.
    pub async fn touch_api_token(&self, id: i64, now: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}
