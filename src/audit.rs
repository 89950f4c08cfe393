//! The audit log. Every event is appended to the `audit_events` table and emitted as one
//! structured log line (target `fedbroker::audit`) for a SIEM.
//!
//! Decision: an event that cannot be stored (database down) does not undo or block the action
//! it records; the log line is then the record, and an error line says the store failed.
//! Events never carry secrets: no passwords, credentials, assertions, tokens or sign-in URLs.

use crate::startup::now;
pub use crate::store::NewAuditEvent;
use crate::store::Store;

/// Event types, as stored and filtered.
pub mod kind {
    pub const SIGNIN: &str = "signin";
    pub const ASSERTION: &str = "assertion.issued";
    pub const STS: &str = "sts.assume_role";
    pub const FEDERATION: &str = "federation.url_issued";
    pub const ADMIN: &str = "admin.change";
    pub const TOKEN: &str = "api_token";
    pub const ALL: [&str; 6] = [SIGNIN, ASSERTION, STS, FEDERATION, ADMIN, TOKEN];
}

/// `success` / `failure`.
pub fn outcome(ok: bool) -> String {
    if ok { "success" } else { "failure" }.to_string()
}

/// The account id of a role ARN (empty if it has none).
pub fn account_of(role_arn: &str) -> String {
    role_arn.split(':').nth(4).unwrap_or_default().to_string()
}

/// Logs the event, then stores it.
pub async fn record(store: &Store, event: NewAuditEvent) {
    emit(&event);
    if let Err(e) = store.append_audit(&event, now()).await {
        tracing::error!(target: "fedbroker::audit", error = %e, event_type = %event.event_type,
            "audit event could not be stored; the log line before this one is its record");
    }
}

/// The structured log line of an event.
pub fn emit(e: &NewAuditEvent) {
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

/// An admin's change of configuration kept outside the rules tables (keys, Region controls,
/// users): the rules and aliases write theirs in the same transaction as the change.
pub async fn admin_change(
    store: &Store,
    actor: &str,
    entity: &str,
    key: &str,
    action: &str,
    details: serde_json::Value,
) {
    record(
        store,
        NewAuditEvent {
            event_type: kind::ADMIN.into(),
            actor: actor.into(),
            outcome: outcome(true),
            details: serde_json::json!({"entity": entity, "key": key, "action": action, "change": details}),
            ..NewAuditEvent::default()
        },
    )
    .await;
}
