//! The audit log: events appended, listed, pruned; the event types and their log line.

use std::collections::BTreeMap;

use super::{on_pool, Store, StoreError};

/// An event to append.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NewAuditEvent {
    pub event_type: String,
    /// Who did it (a username, `cli:<user>`, or empty for the anonymous).
    pub actor: String,
    /// Whom it concerns (the person signing in or getting credentials).
    pub subject: String,
    pub role_arn: String,
    pub account_id: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub source_addr: String,
    pub user_agent: String,
    /// Event-specific fields, JSON. Never secrets.
    pub details: serde_json::Value,
}

/// A stored event.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub event_type: String,
    pub actor: String,
    pub subject: String,
    pub role_arn: String,
    pub account_id: String,
    pub outcome: String,
    pub source_addr: String,
    pub user_agent: String,
    pub details: String,
}

/// Which events to list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Matches the actor or the subject.
    pub user: Option<String>,
    pub role_arn: Option<String>,
    pub account_id: Option<String>,
    pub event_type: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only events older than this one (keyset paging: the last id of the previous page).
    pub before_id: Option<i64>,
}

const AUDIT_COLUMNS: &str = "id, at, event_type, actor, subject, role_arn, account_id, outcome, \
     source_addr, user_agent, details";

impl Store {
    /// Logs the event, then stores it. A failure to store is logged, not returned: the action
    /// it records has happened, and the log line is then its record.
    pub async fn record_event(&self, event: &NewAuditEvent, at: i64) {
        emit_event(event);
        if let Err(e) = self.append_audit_grouped(event.clone(), at).await {
            tracing::error!(target: "fedbroker::audit", error = %e, event_type = %event.event_type,
                "audit event could not be stored; the log line before this one is its record");
        }
    }

    /// An admin's change of configuration kept outside the history tables (signing keys,
    /// Region controls, users), recorded by the operation itself so that the admin pages and
    /// the command line write the same event.
    pub async fn record_admin_change(
        &self,
        actor: &str,
        entity: &str,
        key: &str,
        action: &str,
        details: serde_json::Value,
        at: i64,
    ) {
        self.record_admin_change_of("", actor, entity, key, action, details, at)
            .await;
    }

    /// [`Store::record_admin_change`] of a change to one person's account, who is the event's
    /// subject (their audit trail then shows it).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_admin_change_of(
        &self,
        subject: &str,
        actor: &str,
        entity: &str,
        key: &str,
        action: &str,
        details: serde_json::Value,
        at: i64,
    ) {
        let event = NewAuditEvent {
            event_type: event_kind::ADMIN.into(),
            actor: actor.into(),
            subject: subject.into(),
            outcome: "success".into(),
            details: serde_json::json!({"entity": entity, "key": key, "action": action, "change": details}),
            ..NewAuditEvent::default()
        };
        self.record_event(&event, at).await;
    }

    /// Appends one event.
    pub async fn append_audit(&self, e: &NewAuditEvent, at: i64) -> Result<i64, StoreError> {
        let details = e.details.to_string();
        on_pool!(self, |pool| {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO audit_events (at, event_type, actor, subject, role_arn, account_id, outcome, \
                 source_addr, user_agent, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 RETURNING id",
            )
            .bind(at)
            .bind(&e.event_type)
            .bind(&e.actor)
            .bind(&e.subject)
            .bind(&e.role_arn)
            .bind(&e.account_id)
            .bind(&e.outcome)
            .bind(&e.source_addr)
            .bind(&e.user_agent)
            .bind(&details)
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// Events matching the filter, newest first.
    pub async fn audit_events(
        &self,
        f: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE ($1 IS NULL OR actor = $1 OR subject = $1) \
             AND ($2 IS NULL OR role_arn = $2) AND ($3 IS NULL OR account_id = $3) \
             AND ($4 IS NULL OR event_type = $4) AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) \
             AND ($7 IS NULL OR id < $7) ORDER BY id DESC LIMIT $8"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, AuditRecord>(&sql)
            .bind(f.user.as_deref())
            .bind(f.role_arn.as_deref())
            .bind(f.account_id.as_deref())
            .bind(f.event_type.as_deref())
            .bind(f.since)
            .bind(f.until)
            .bind(f.before_id)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Deletes events older than `cutoff` (Unix seconds); returns how many.
    pub async fn prune_audit(&self, cutoff: i64) -> Result<u64, StoreError> {
        on_pool!(self, |pool| Ok(sqlx::query(
            "DELETE FROM audit_events WHERE at < $1"
        )
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected()))
    }
}

/// The event types of the audit log. They live with the store, which writes events inside
/// the operations they record; `audit` re-exports them as `audit::kind`.
pub mod event_kind {
    pub const SIGNIN: &str = "signin";
    pub const ASSERTION: &str = "assertion.issued";
    pub const STS: &str = "sts.assume_role";
    pub const FEDERATION: &str = "federation.url_issued";
    pub const ADMIN: &str = "admin.change";
    pub const TOKEN: &str = "api_token";
    /// Sessions ended and API tokens revoked by a password change, a reset, a disable or a
    /// removal from a group; the details say which and how many.
    pub const REVOKED: &str = "access.revoked";
    /// A request refused for lack of a right (a role not granted, a token scope, the admin
    /// group); the details give the reason.
    pub const DENIED: &str = "access.denied";
    pub const ALL: [&str; 8] = [
        SIGNIN, ASSERTION, STS, FEDERATION, ADMIN, TOKEN, REVOKED, DENIED,
    ];
}

/// Events written since start, by type and outcome, for `/metrics`: every sign-in, assertion,
/// STS call and refusal is an audit event, so counting them here counts each exactly once,
/// whichever path recorded it. Labels come from fixed lists (anything else is `other`), so a
/// stored value can never grow the series count.
static EVENT_COUNTS: std::sync::Mutex<BTreeMap<(&'static str, &'static str), u64>> =
    std::sync::Mutex::new(BTreeMap::new());

/// `(event type, outcome, count)` of every event written since start.
pub fn event_counts() -> Vec<(&'static str, &'static str, u64)> {
    let counts = EVENT_COUNTS.lock().unwrap_or_else(|p| p.into_inner());
    counts.iter().map(|(&(t, o), &n)| (t, o, n)).collect()
}

fn count_event(e: &NewAuditEvent) {
    let kind = event_kind::ALL
        .iter()
        .copied()
        .find(|k| *k == e.event_type)
        .unwrap_or("other");
    let outcome = ["success", "failure"]
        .into_iter()
        .find(|o| *o == e.outcome)
        .unwrap_or("other");
    *EVENT_COUNTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry((kind, outcome))
        .or_default() += 1;
}

/// The structured log line of an event (and its count for `/metrics`).
pub fn emit_event(e: &NewAuditEvent) {
    count_event(e);
    tracing::info!(
        target: "fedbroker::audit",
        event_type = %e.event_type,
        actor = %e.actor,
        subject = %e.subject,
        role_arn = %e.role_arn,
        account_id = %e.account_id,
        outcome = %e.outcome,
        source_addr = %e.source_addr,
        user_agent = %e.user_agent,
        details = %e.details,
        "audit event"
    );
}
