//! The change history of admin-edited things (rules, account aliases, the imported mapping),
//! and the one shape every versioned edit takes.
//!
//! Edits are optimistic: each row carries a version; an update or delete names the version it
//! was based on and is refused with [`StoreError::Stale`] when someone else changed the row
//! since. Every change writes its history row (who, when, before, after) and its audit event
//! in the same transaction.
//!
//! Transactions start with their write, not a read: a deferred SQLite transaction that reads
//! first cannot later take the write lock if another writer committed in between.

use super::engine::RowsAffected;
use super::{on_pool, Store, StoreError};

/// Who makes a change, and when.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub actor: &'a str,
    pub at: i64,
}

/// One recorded change.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub entity: String,
    pub entity_key: String,
    pub action: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
}

/// A change to record: what, which, how, and the JSON before and after.
pub(super) struct Entry<'a> {
    pub change: &'a Change<'a>,
    pub entity: &'a str,
    pub key: &'a str,
    pub action: &'a str,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Inside the caller's transaction: writes the history row and the `admin.change` audit
/// event, and emits the event's log line.
pub(super) async fn record<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    entry: Entry<'_>,
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let Entry {
        change,
        entity,
        key,
        action,
        before,
        after,
    } = entry;
    let event = super::NewAuditEvent {
        event_type: super::event_kind::ADMIN.into(),
        actor: change.actor.to_string(),
        outcome: "success".into(),
        account_id: if entity == "account" {
            key.to_string()
        } else {
            String::new()
        },
        details: serde_json::json!({
            "entity": entity, "key": key, "action": action, "before": before, "after": after,
        }),
        ..super::NewAuditEvent::default()
    };
    super::emit_event(&event);
    sqlx::query::<DB>(
        "INSERT INTO change_history (at, actor, entity, entity_key, action, before_json, after_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(change.at)
    .bind(change.actor)
    .bind(entity)
    .bind(key)
    .bind(action)
    .bind(before.as_deref())
    .bind(after.as_deref())
    .execute(&mut **tx)
    .await?;
    let details = event.details.to_string();
    sqlx::query::<DB>(
        "INSERT INTO audit_events (at, event_type, actor, subject, role_arn, account_id, outcome, \
         source_addr, user_agent, details) VALUES ($1, $2, $3, '', '', $4, 'success', '', '', $5)",
    )
    .bind(change.at)
    .bind(event.event_type.as_str())
    .bind(event.actor.as_str())
    .bind(event.account_id.as_str())
    .bind(details.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The versioned write: runs `write` (a statement conditional on the version the caller
/// read), and only when it touched a row runs `then` (e.g. the rule-set generation bump),
/// records `entry` and commits. `Ok(false)`: nothing was written, because the row is gone or
/// at another version; the caller turns that into [`stale`].
pub(super) async fn versioned_write<'q, DB>(
    mut tx: sqlx::Transaction<'_, DB>,
    write: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    bumps_generation: bool,
    entry: Entry<'_>,
) -> Result<bool, StoreError>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'a> <DB as sqlx::Database>::Arguments<'a>: sqlx::IntoArguments<'a, DB>,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    DB::QueryResult: RowsAffected,
{
    if write.execute(&mut *tx).await?.rows_affected() == 0 {
        return Ok(false);
    }
    if bumps_generation {
        super::rules::bump_generation(&mut tx).await?;
    }
    record(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(true)
}

/// Why a versioned write did not happen: the thing is gone, or who changed it and when.
pub(super) fn stale(what: String, current: Option<(i64, String)>) -> StoreError {
    match current {
        None => StoreError::NotFound(what),
        Some((at, by)) => StoreError::Stale(format!(
            "{what} was changed by {by} at {} after you opened it",
            crate::clock::readable(at)
        )),
    }
}

impl Store {
    /// Recent changes, newest first; optionally of one entity kind and key.
    pub async fn history(
        &self,
        entity: Option<&str>,
        key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<HistoryRecord>, StoreError> {
        let sql = "SELECT id, at, actor, entity, entity_key, action, before_json, after_json \
                   FROM change_history WHERE ($1 IS NULL OR entity = $1) \
                   AND ($2 IS NULL OR entity_key = $2) ORDER BY id DESC LIMIT $3";
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, HistoryRecord>(sql)
            .bind(entity)
            .bind(key)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }
}
