//! Mapping rules, account aliases, their change history and favourites.
//!
//! Edits are optimistic: each rule and alias carries a version; an update or delete names the
//! version it was based on and is refused with [`StoreError::Stale`] when someone else changed
//! the row since. Every change writes its history row (who, when, before, after) in the same
//! transaction, and rule changes bump the rule-set generation so every instance recompiles.
//!
//! Transactions start with their write, not a read: a deferred SQLite transaction that reads
//! first cannot later take the write lock if another writer committed in between.

use serde_json::json;

/// Bumps the rule-set generation inside the caller's transaction; first in every rule change so
/// that the transaction holds the write lock from its start.
macro_rules! bump_generation {
    ($tx:expr) => {
        sqlx::query("UPDATE rule_set_state SET generation = generation + 1 WHERE id = 1")
            .execute(&mut *$tx)
            .await
    };
}

/// Inserts one rule at `priority` inside the caller's transaction; yields its id.
macro_rules! insert_rule {
    ($tx:expr, $spec:expr, $priority:expr, $change:expr) => {
        sqlx::query_as::<_, (i64,)>(
            "INSERT INTO mapping_rules (name, description, priority, enabled, effect, pattern, \
             case_sensitive, role_template, provider_template, session_duration, relay_state, \
             version, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13) RETURNING id",
        )
        .bind($spec.name.trim())
        .bind(&$spec.description)
        .bind($priority)
        .bind($spec.enabled)
        .bind($spec.effect.as_str())
        .bind(&$spec.pattern)
        .bind($spec.case_sensitive)
        .bind(&$spec.role)
        .bind(&$spec.provider)
        .bind($spec.session_duration)
        .bind(&$spec.relay_state)
        .bind($change.at)
        .bind($change.actor)
        .fetch_one(&mut *$tx)
        .await
    };
}

/// Writes one history row and its audit event inside the caller's transaction (a macro: the
/// same SQL for both engines' transaction types), and emits the event's log line.
macro_rules! record {
    ($tx:expr, $change:expr, $entity:expr, $key:expr, $action:expr, $before:expr, $after:expr) => {{
        let (before, after): (Option<String>, Option<String>) = ($before, $after);
        let event = crate::store::NewAuditEvent {
            event_type: super::event_kind::ADMIN.into(),
            actor: $change.actor.to_string(),
            outcome: "success".into(),
            account_id: if $entity == "account" { $key.to_string() } else { String::new() },
            details: serde_json::json!({
                "entity": $entity, "key": $key, "action": $action, "before": before, "after": after,
            }),
            ..crate::store::NewAuditEvent::default()
        };
        super::emit_event(&event);
        match sqlx::query(
            "INSERT INTO change_history (at, actor, entity, entity_key, action, before_json, after_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($change.at)
        .bind($change.actor)
        .bind($entity)
        .bind($key)
        .bind($action)
        .bind(&before)
        .bind(&after)
        .execute(&mut *$tx)
        .await
        {
            Ok(_) => sqlx::query(
                "INSERT INTO audit_events (at, event_type, actor, subject, role_arn, account_id, outcome, \
                 source_addr, user_agent, details) VALUES ($1, $2, $3, '', '', $4, 'success', '', '', $5)",
            )
            .bind($change.at)
            .bind(&event.event_type)
            .bind(&event.actor)
            .bind(&event.account_id)
            .bind(event.details.to_string())
            .execute(&mut *$tx)
            .await,
            Err(e) => Err(e),
        }
    }};
}

use super::{on_pool, Store, StoreError};
use crate::mapping::{AccountAlias, Colour, Effect, RuleSpec, RulesDocument};

/// A stored rule.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub priority: i64,
    pub enabled: bool,
    pub effect: String,
    pub pattern: String,
    pub case_sensitive: bool,
    pub role_template: String,
    pub provider_template: Option<String>,
    pub session_duration: Option<i64>,
    pub relay_state: Option<String>,
    pub version: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

impl RuleRecord {
    /// The rule as written.
    pub fn spec(&self) -> RuleSpec {
        RuleSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            effect: Effect::parse(&self.effect).unwrap_or(Effect::Allow),
            pattern: self.pattern.clone(),
            case_sensitive: self.case_sensitive,
            role: self.role_template.clone(),
            provider: self.provider_template.clone(),
            session_duration: self.session_duration,
            relay_state: self.relay_state.clone(),
        }
    }
}

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
    pub fn alias(&self) -> AccountAlias {
        AccountAlias {
            id: self.account_id.clone(),
            name: self.name.clone(),
            environment: self.environment.clone(),
            colour: self.colour.as_deref().and_then(Colour::parse),
        }
    }
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

/// Who makes a change, and when.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub actor: &'a str,
    pub at: i64,
}

const RULE_COLUMNS: &str = "id, name, description, priority, enabled, effect, pattern, case_sensitive, \
     role_template, provider_template, session_duration, relay_state, version, updated_at, updated_by";
const ACCOUNT_COLUMNS: &str =
    "account_id, name, environment, colour, version, updated_at, updated_by";

fn rule_json(spec: &RuleSpec) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

fn stale(what: String, current: Option<(i64, String)>) -> StoreError {
    match current {
        None => StoreError::NotFound(what),
        Some((at, by)) => StoreError::Stale(format!(
            "{what} was changed by {by} at {} after you opened it",
            crate::clock::readable(at)
        )),
    }
}

impl Store {
    /// Ok when the conditional write happened; otherwise why not (gone, or changed by whom).
    async fn rule_outcome(&self, done: bool, id: i64, name: &str) -> Result<(), StoreError> {
        if done {
            return Ok(());
        }
        let now = self.rule(id).await?;
        Err(stale(
            format!("rule `{name}`"),
            now.map(|r| (r.updated_at, r.updated_by)),
        ))
    }

    /// The same for an account alias.
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

    /// All rules in evaluation order.
    pub async fn list_rules(&self) -> Result<Vec<RuleRecord>, StoreError> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM mapping_rules ORDER BY priority, id");
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, RuleRecord>(&sql)
            .fetch_all(pool)
            .await?))
    }

    /// One rule.
    pub async fn rule(&self, id: i64) -> Result<Option<RuleRecord>, StoreError> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM mapping_rules WHERE id = $1");
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, RuleRecord>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// The rule-set generation; it changes whenever any rule does.
    pub async fn rules_generation(&self) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let (g,): (i64,) = sqlx::query_as("SELECT generation FROM rule_set_state WHERE id = 1")
                .fetch_one(pool)
                .await?;
            Ok(g)
        })
    }

    /// Adds a rule at the end of the order. The spec must have been validated.
    pub async fn create_rule(
        &self,
        spec: &RuleSpec,
        change: &Change<'_>,
    ) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            bump_generation!(tx)?;
            let (priority,): (i64,) =
                sqlx::query_as("SELECT COALESCE(MAX(priority), 0) + 10 FROM mapping_rules")
                    .fetch_one(&mut *tx)
                    .await?;
            let (id,) = insert_rule!(tx, spec, priority, change)?;
            record!(
                tx,
                change,
                "rule",
                &id.to_string(),
                "create",
                None::<String>,
                Some(rule_json(spec))
            )?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Replaces a rule's content, if it is still at `expected_version`.
    pub async fn update_rule(
        &self,
        id: i64,
        expected_version: i64,
        spec: &RuleSpec,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let before = self
            .rule(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("rule #{id}")))?;
        if before.version != expected_version {
            return Err(stale(
                format!("rule `{}`", before.name),
                Some((before.updated_at, before.updated_by)),
            ));
        }
        let result = on_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE mapping_rules SET name = $3, description = $4, enabled = $5, effect = $6, \
                 pattern = $7, case_sensitive = $8, role_template = $9, provider_template = $10, \
                 session_duration = $11, relay_state = $12, version = version + 1, updated_at = $13, \
                 updated_by = $14 WHERE id = $1 AND version = $2",
            )
            .bind(id)
            .bind(expected_version)
            .bind(spec.name.trim())
            .bind(&spec.description)
            .bind(spec.enabled)
            .bind(spec.effect.as_str())
            .bind(&spec.pattern)
            .bind(spec.case_sensitive)
            .bind(&spec.role)
            .bind(&spec.provider)
            .bind(spec.session_duration)
            .bind(&spec.relay_state)
            .bind(change.at)
            .bind(change.actor)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            bump_generation!(tx)?;
            record!(
                tx,
                change,
                "rule",
                &id.to_string(),
                "update",
                Some(rule_json(&before.spec())),
                Some(rule_json(spec))
            )?;
            tx.commit().await?;
            Ok::<bool, StoreError>(true)
        }
        .await
        })?;
        self.rule_outcome(result, id, &before.name).await
    }

    /// Deletes a rule, if it is still at `expected_version`.
    pub async fn delete_rule(
        &self,
        id: i64,
        expected_version: i64,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let before = self
            .rule(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("rule #{id}")))?;
        let done = on_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("DELETE FROM mapping_rules WHERE id = $1 AND version = $2")
                .bind(id)
                .bind(expected_version)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            bump_generation!(tx)?;
            record!(
                tx,
                change,
                "rule",
                &id.to_string(),
                "delete",
                Some(rule_json(&before.spec())),
                None::<String>
            )?;
            tx.commit().await?;
            Ok::<bool, StoreError>(true)
        }
        .await)?;
        self.rule_outcome(done, id, &before.name).await
    }

    /// Moves a rule one place up (earlier) or down, renumbering priorities 10, 20, …
    /// Order is not part of a rule's version: moving never makes someone's open edit stale.
    pub async fn move_rule(
        &self,
        id: i64,
        up: bool,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            bump_generation!(tx)?;
            let rows: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, name FROM mapping_rules ORDER BY priority, id")
                    .fetch_all(&mut *tx)
                    .await?;
            let at = rows
                .iter()
                .position(|(rid, _)| *rid == id)
                .ok_or_else(|| StoreError::NotFound(format!("rule #{id}")))?;
            let other = if up {
                at.checked_sub(1)
            } else {
                Some(at + 1).filter(|i| *i < rows.len())
            };
            let Some(other) = other else {
                return Ok(());
            };
            let before: Vec<&str> = rows.iter().map(|(_, n)| n.as_str()).collect();
            let mut after = rows.clone();
            after.swap(at, other);
            for (i, (rid, _)) in after.iter().enumerate() {
                sqlx::query("UPDATE mapping_rules SET priority = $2 WHERE id = $1")
                    .bind(rid)
                    .bind((i as i64 + 1) * 10)
                    .execute(&mut *tx)
                    .await?;
            }
            let after: Vec<&str> = after.iter().map(|(_, n)| n.as_str()).collect();
            record!(
                tx,
                change,
                "rule",
                &id.to_string(),
                "reorder",
                Some(json!(before).to_string()),
                Some(json!(after).to_string())
            )?;
            tx.commit().await?;
            Ok(())
        })
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
        let before = self.account(&alias.id).await?;
        let after = serde_json::to_string(alias).unwrap_or_default();
        let colour = alias.colour.map(|c| c.as_str());
        let done = on_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            let done = match expected_version {
                None => sqlx::query(
                    "INSERT INTO account_aliases (account_id, name, environment, colour, version, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, 1, $5, $6)",
                )
                .bind(&alias.id)
                .bind(alias.name.trim())
                .bind(&alias.environment)
                .bind(colour)
                .bind(change.at)
                .bind(change.actor)
                .execute(&mut *tx)
                .await?,
                Some(v) => sqlx::query(
                    "UPDATE account_aliases SET name = $3, environment = $4, colour = $5, version = version + 1, \
                     updated_at = $6, updated_by = $7 WHERE account_id = $1 AND version = $2",
                )
                .bind(&alias.id)
                .bind(v)
                .bind(alias.name.trim())
                .bind(&alias.environment)
                .bind(colour)
                .bind(change.at)
                .bind(change.actor)
                .execute(&mut *tx)
                .await?,
            };
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            let action = if expected_version.is_some() { "update" } else { "create" };
            let before_json = before.as_ref().map(|b| serde_json::to_string(&b.alias()).unwrap_or_default());
            record!(tx, change, "account", &alias.id, action, before_json, Some(after))?;
            tx.commit().await?;
            Ok::<bool, StoreError>(true)
        }
        .await
        })?;
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
        let done = on_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let done =
                sqlx::query("DELETE FROM account_aliases WHERE account_id = $1 AND version = $2")
                    .bind(id)
                    .bind(expected_version)
                    .execute(&mut *tx)
                    .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            let before_json = serde_json::to_string(&before.alias()).unwrap_or_default();
            record!(
                tx,
                change,
                "account",
                id,
                "delete",
                Some(before_json),
                None::<String>
            )?;
            tx.commit().await?;
            Ok::<bool, StoreError>(true)
        }
        .await)?;
        self.account_outcome(done, id).await
    }

    /// The whole mapping as a document (for export and import diffs).
    pub async fn mapping_document(&self) -> Result<RulesDocument, StoreError> {
        Ok(RulesDocument {
            version: crate::mapping::document::VERSION,
            rules: self
                .list_rules()
                .await?
                .iter()
                .map(RuleRecord::spec)
                .collect(),
            accounts: self
                .list_accounts()
                .await?
                .iter()
                .map(AccountRecord::alias)
                .collect(),
        })
    }

    /// Replaces every rule and alias with the document's, all or nothing. The document must
    /// have been validated.
    pub async fn replace_mapping(
        &self,
        doc: &RulesDocument,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let before = serde_json::to_string(&self.mapping_document().await?).unwrap_or_default();
        let after = serde_json::to_string(doc).unwrap_or_default();
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            bump_generation!(tx)?;
            sqlx::query("DELETE FROM mapping_rules")
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM account_aliases")
                .execute(&mut *tx)
                .await?;
            for (i, spec) in doc.rules.iter().enumerate() {
                insert_rule!(tx, spec, (i as i64 + 1) * 10, change)?;
            }
            for a in &doc.accounts {
                sqlx::query(
                    "INSERT INTO account_aliases (account_id, name, environment, colour, version, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, 1, $5, $6)",
                )
                .bind(&a.id)
                .bind(a.name.trim())
                .bind(&a.environment)
                .bind(a.colour.map(|c| c.as_str()))
                .bind(change.at)
                .bind(change.actor)
                .execute(&mut *tx)
                .await?;
            }
            record!(
                tx,
                change,
                "mapping",
                "all",
                "import",
                Some(before),
                Some(after)
            )?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Recent changes, newest first; optionally of one entity kind and key.
    pub async fn history(
        &self,
        entity: Option<&str>,
        key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<HistoryRecord>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, HistoryRecord>(
            "SELECT id, at, actor, entity, entity_key, action, before_json, after_json FROM change_history \
             WHERE ($1 IS NULL OR entity = $1) AND ($2 IS NULL OR entity_key = $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(entity)
        .bind(key)
        .bind(limit)
        .fetch_all(pool)
        .await?)
        })
    }

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
