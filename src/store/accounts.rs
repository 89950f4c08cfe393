//! Account aliases: a name, an environment and a colour for a 12-digit account id.

use super::history::{stale, versioned_write, Change, Entry};
use super::{on_pool, Store, StoreError};
use crate::mapping::{AccountAlias, Colour};

/// A stored account alias.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRecord {
    pub account_id: String,
    pub name: String,
    pub environment: String,
    pub colour: Option<String>,
    pub version: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

impl AccountRecord {
    /// The alias as written. A colour this version does not know is an error, not dropped.
    pub fn alias(&self) -> Result<AccountAlias, StoreError> {
        let colour = match self.colour.as_deref() {
            None => None,
            Some(raw) => Some(Colour::parse(raw).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "account {} has the stored colour `{raw}`, which is not one of the palette's; \
                     correct the row in account_aliases (or re-import the aliases)",
                    self.account_id
                ))
            })?),
        };
        Ok(AccountAlias {
            id: self.account_id.clone(),
            name: self.name.clone(),
            environment: self.environment.clone(),
            colour,
        })
    }
}

const ACCOUNT_COLUMNS: &str =
    "account_id, name, environment, colour, version, updated_at, updated_by";

/// Inside the caller's transaction: inserts one alias at version 1.
pub(super) async fn insert_account<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    alias: &AccountAlias,
    change: &Change<'_>,
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query::<DB>(INSERT_ACCOUNT)
        .bind(alias.id.as_str())
        .bind(alias.name.trim())
        .bind(alias.environment.as_str())
        .bind(alias.colour.map(|c| c.as_str()))
        .bind(change.at)
        .bind(change.actor)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const INSERT_ACCOUNT: &str = "INSERT INTO account_aliases \
     (account_id, name, environment, colour, version, updated_at, updated_by) \
     VALUES ($1, $2, $3, $4, 1, $5, $6)";

fn alias_json(alias: &AccountAlias) -> String {
    serde_json::to_string(alias).unwrap_or_default()
}

impl Store {
    /// Ok when the conditional write happened; otherwise why not (gone, or changed by whom).
    async fn account_outcome(&self, done: bool, id: &str) -> Result<(), StoreError> {
        if done {
            return Ok(());
        }
        let now = self.account(id).await?;
        Err(stale(
            format!("account {id}"),
            now.map(|a| (a.updated_at, a.updated_by)),
        ))
    }

    /// Every alias, by account id.
    pub async fn list_accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM account_aliases ORDER BY account_id");
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, AccountRecord>(&sql)
            .fetch_all(pool)
            .await?))
    }

    /// One alias.
    pub async fn account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM account_aliases WHERE account_id = $1");
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, AccountRecord>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Creates an alias (`expected_version` None; refused if the account has one) or updates
    /// it if it is still at `expected_version`. The alias must have been validated.
    pub async fn save_account(
        &self,
        alias: &AccountAlias,
        expected_version: Option<i64>,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let before = match self.account(&alias.id).await? {
            Some(b) => Some(alias_json(&b.alias()?)),
            None => None,
        };
        let entry = || Entry {
            change,
            entity: "account",
            key: &alias.id,
            action: if expected_version.is_some() {
                "update"
            } else {
                "create"
            },
            before: before.clone(),
            after: Some(alias_json(alias)),
        };
        let colour = alias.colour.map(|c| c.as_str());
        let update = "UPDATE account_aliases SET name = $3, environment = $4, colour = $5, \
                      version = version + 1, updated_at = $6, updated_by = $7 \
                      WHERE account_id = $1 AND version = $2";
        let done = on_pool!(self, |pool| {
            let write = match expected_version {
                None => sqlx::query(INSERT_ACCOUNT).bind(&alias.id),
                Some(v) => sqlx::query(update).bind(&alias.id).bind(v),
            }
            .bind(alias.name.trim())
            .bind(&alias.environment)
            .bind(colour)
            .bind(change.at)
            .bind(change.actor);
            versioned_write(pool.begin().await?, write, false, entry()).await?
        });
        self.account_outcome(done, &alias.id).await
    }

    /// Deletes an alias, if it is still at `expected_version`.
    pub async fn delete_account(
        &self,
        id: &str,
        expected_version: i64,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let before = self
            .account(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("account {id}")))?;
        let before = alias_json(&before.alias()?);
        let entry = || Entry {
            change,
            entity: "account",
            key: id,
            action: "delete",
            before: Some(before.clone()),
            after: None,
        };
        let sql = "DELETE FROM account_aliases WHERE account_id = $1 AND version = $2";
        let done = on_pool!(self, |pool| {
            let write = sqlx::query(sql).bind(id).bind(expected_version);
            versioned_write(pool.begin().await?, write, false, entry()).await?
        });
        self.account_outcome(done, id).await
    }
}
