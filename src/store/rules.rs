//! Mapping rules and the rule-set generation (every instance recompiles when it moves), and
//! the whole mapping as one document for export and import.

use serde_json::json;

use super::accounts::{insert_account, AccountRecord};
use super::history::{record, stale, versioned_write, Change, Entry};
use super::{on_pool, Store, StoreError};
use crate::mapping::{Effect, RuleSpec, RulesDocument, SessionSpec};

/// A stored rule.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub priority: i64,
    pub enabled: bool,
    /// Read strictly: an effect this version does not know is an error, never an allow.
    #[sqlx(try_from = "String")]
    pub effect: Effect,
    pub pattern: String,
    pub case_sensitive: bool,
    pub role_template: String,
    pub provider_template: Option<String>,
    pub session_duration: Option<i64>,
    pub relay_state: Option<String>,
    /// Read strictly, like `effect`: a document this version cannot read is an error.
    #[sqlx(try_from = "Option<String>")]
    pub session_controls: StoredSession,
    pub version: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

impl TryFrom<String> for Effect {
    type Error = String;

    fn try_from(raw: String) -> Result<Effect, String> {
        Effect::parse(&raw).ok_or_else(|| {
            format!(
                "a stored mapping rule has effect `{raw}`, which is neither `allow` nor `deny`; \
                 correct the row in mapping_rules (or re-import the rules)"
            )
        })
    }
}

impl RuleRecord {
    /// The rule as written.
    pub fn spec(&self) -> RuleSpec {
        RuleSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            effect: self.effect,
            pattern: self.pattern.clone(),
            case_sensitive: self.case_sensitive,
            role: self.role_template.clone(),
            provider: self.provider_template.clone(),
            session_duration: self.session_duration,
            relay_state: self.relay_state.clone(),
            session: self.session_controls.0.clone(),
        }
    }
}

/// The `session_controls` column: a rule's [`SessionSpec`] as JSON, NULL when empty.
#[derive(Debug, Clone, Default)]
pub struct StoredSession(pub SessionSpec);

impl TryFrom<Option<String>> for StoredSession {
    type Error = String;

    fn try_from(raw: Option<String>) -> Result<StoredSession, String> {
        match raw.as_deref() {
            None | Some("") => Ok(StoredSession::default()),
            Some(json) => serde_json::from_str(json).map(StoredSession).map_err(|e| {
                format!(
                    "a stored mapping rule has session controls this version cannot read ({e}); \
                     correct session_controls in mapping_rules (or re-import the rules)"
                )
            }),
        }
    }
}

/// What `session_controls` holds for a spec.
fn session_json(spec: &RuleSpec) -> Option<String> {
    (!spec.session.is_empty()).then(|| serde_json::to_string(&spec.session).unwrap_or_default())
}

const RULE_COLUMNS: &str =
    "id, name, description, priority, enabled, effect, pattern, case_sensitive, \
     role_template, provider_template, session_duration, relay_state, session_controls, version, \
     updated_at, updated_by";

fn rule_json(spec: &RuleSpec) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

/// Inside the caller's transaction: bumps the rule-set generation. First in a rule change that
/// does not start with a conditional write, so the transaction holds the write lock from its
/// start.
pub(super) async fn bump_generation<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    sqlx::query::<DB>("UPDATE rule_set_state SET generation = generation + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inside the caller's transaction: inserts one rule at `priority`; returns its id.
async fn insert_rule<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    spec: &RuleSpec,
    priority: i64,
    change: &Change<'_>,
) -> Result<i64, sqlx::Error>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
{
    let (id,): (i64,) = sqlx::query_as::<DB, (i64,)>(
        "INSERT INTO mapping_rules (name, description, priority, enabled, effect, pattern, \
         case_sensitive, role_template, provider_template, session_duration, relay_state, \
         session_controls, version, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $14) RETURNING id",
    )
    .bind(spec.name.trim())
    .bind(spec.description.as_str())
    .bind(priority)
    .bind(spec.enabled)
    .bind(spec.effect.as_str())
    .bind(spec.pattern.as_str())
    .bind(spec.case_sensitive)
    .bind(spec.role.as_str())
    .bind(spec.provider.as_deref())
    .bind(spec.session_duration)
    .bind(spec.relay_state.as_deref())
    .bind(session_json(spec).as_deref())
    .bind(change.at)
    .bind(change.actor)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
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

    /// The rule-set generation; it changes whenever any rule does (read with the other
    /// cached generations, see `cache.rs`).
    pub async fn rules_generation(&self) -> Result<i64, StoreError> {
        Ok(self.generations().await?.mapping_rules)
    }

    /// Adds a rule at the end of the order. The spec must have been validated.
    pub async fn create_rule(
        &self,
        spec: &RuleSpec,
        change: &Change<'_>,
    ) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            bump_generation(&mut tx).await?;
            let (priority,): (i64,) =
                sqlx::query_as("SELECT COALESCE(MAX(priority), 0) + 10 FROM mapping_rules")
                    .fetch_one(&mut *tx)
                    .await?;
            let id = insert_rule(&mut tx, spec, priority, change).await?;
            let key = id.to_string();
            let entry = Entry {
                change,
                entity: "rule",
                key: &key,
                action: "create",
                before: None,
                after: Some(rule_json(spec)),
            };
            record(&mut tx, entry).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// The rule as stored now, refused as stale unless it is at `expected_version`.
    async fn rule_at(&self, id: i64, expected_version: i64) -> Result<RuleRecord, StoreError> {
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
        Ok(before)
    }

    /// Replaces a rule's content, if it is still at `expected_version`.
    pub async fn update_rule(
        &self,
        id: i64,
        expected_version: i64,
        spec: &RuleSpec,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let before = self.rule_at(id, expected_version).await?;
        let key = id.to_string();
        let entry = || Entry {
            change,
            entity: "rule",
            key: &key,
            action: "update",
            before: Some(rule_json(&before.spec())),
            after: Some(rule_json(spec)),
        };
        let sql =
            "UPDATE mapping_rules SET name = $3, description = $4, enabled = $5, effect = $6, \
                   pattern = $7, case_sensitive = $8, role_template = $9, provider_template = $10, \
                   session_duration = $11, relay_state = $12, session_controls = $13, \
                   version = version + 1, updated_at = $14, updated_by = $15 \
                   WHERE id = $1 AND version = $2";
        let done = on_pool!(self, |pool| {
            let write = sqlx::query(sql)
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
                .bind(session_json(spec))
                .bind(change.at)
                .bind(change.actor);
            versioned_write(pool.begin().await?, write, true, entry()).await?
        });
        self.rule_outcome(done, id, &before.name).await
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
        let key = id.to_string();
        let entry = || Entry {
            change,
            entity: "rule",
            key: &key,
            action: "delete",
            before: Some(rule_json(&before.spec())),
            after: None,
        };
        let sql = "DELETE FROM mapping_rules WHERE id = $1 AND version = $2";
        let done = on_pool!(self, |pool| {
            let write = sqlx::query(sql).bind(id).bind(expected_version);
            versioned_write(pool.begin().await?, write, true, entry()).await?
        });
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
            bump_generation(&mut tx).await?;
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
            let key = id.to_string();
            let entry = Entry {
                change,
                entity: "rule",
                key: &key,
                action: "reorder",
                before: Some(json!(before).to_string()),
                after: Some(json!(after).to_string()),
            };
            record(&mut tx, entry).await?;
            tx.commit().await?;
            Ok(())
        })
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
                .collect::<Result<_, _>>()?,
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
            bump_generation(&mut tx).await?;
            sqlx::query("DELETE FROM mapping_rules")
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM account_aliases")
                .execute(&mut *tx)
                .await?;
            for (i, spec) in doc.rules.iter().enumerate() {
                insert_rule(&mut tx, spec, (i as i64 + 1) * 10, change).await?;
            }
            for alias in &doc.accounts {
                insert_account(&mut tx, alias, change).await?;
            }
            let entry = Entry {
                change,
                entity: "mapping",
                key: "all",
                action: "import",
                before: Some(before),
                after: Some(after),
            };
            record(&mut tx, entry).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}
