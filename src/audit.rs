//! The audit log. Every event is appended to the `audit_events` table and emitted as one
//! structured log line (target `fedbroker::audit`) for a SIEM.
//!
//! Decision: an event that cannot be stored (database down) does not undo or block the action
//! it records; the log line is then the record, and an error line says the store failed.
//! Events never carry secrets: no passwords, credentials, assertions, tokens or sign-in URLs.

use crate::clock::now;
pub use crate::store::NewAuditEvent;
use crate::store::Store;

/// Event types (as stored and filtered) and the log line of an event: kept with the store.
pub use crate::store::{emit_event as emit, event_kind as kind};

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub addr: String,
    pub user_agent: String,
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
    store.record_event(&event, now()).await;
}

/// Logs the event and stores it, or fails: for an action that must not happen unrecorded
/// (an assertion leaving the broker). The caller acts only after this returns `Ok`.
pub async fn record_before_acting(
    store: &Store,
    event: NewAuditEvent,
) -> Result<(), crate::store::StoreError> {
    // Logged once stored: a refused action must not leave a log line saying it happened.
    let line = event.clone();
    match store.append_audit_grouped(event, now()).await {
        Ok(()) => {
            crate::store::emit_event(&line);
            Ok(())
        }
        Err(e) => {
            tracing::error!(target: "fedbroker::audit", error = %e, event_type = %line.event_type,
                actor = %line.actor, "audit event could not be stored; the action was refused");
            Err(e)
        }
    }
}

/// Deletes the events older than `retention_days` (never a younger one); returns how many.
pub async fn prune(
    store: &Store,
    retention_days: i64,
    now: i64,
) -> Result<u64, crate::store::StoreError> {
    let cutoff = now - retention_days.max(1) * 86_400;
    store.prune_audit(cutoff).await
}

/// Characters that make a spreadsheet read a cell as a formula (or strip what precedes one):
/// `= + - @`, their full-width forms (which some spreadsheets fold to ASCII), and the
/// whitespace a spreadsheet skips before looking (tab, CR, LF, space).
const FORMULA_STARTS: [char; 12] = [
    '=', '+', '-', '@', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}', '\t', '\r', '\n', ' ',
];

/// One CSV field: quoted, quotes doubled, and a leading formula character (see
/// [`FORMULA_STARTS`]) defused with `'` so that a spreadsheet never runs a value as a formula.
pub fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(FORMULA_STARTS) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// The CSV header and the line of one event.
pub const CSV_HEADER: &str =
    "id,at,event_type,actor,subject,role_arn,account_id,outcome,source_addr,user_agent,details";

pub use crate::clock::rfc3339;

pub fn csv_line(e: &crate::store::AuditRecord) -> String {
    [
        e.id.to_string(),
        rfc3339(e.at),
        e.event_type.clone(),
        e.actor.clone(),
        e.subject.clone(),
        e.role_arn.clone(),
        e.account_id.clone(),
        e.outcome.clone(),
        e.source_addr.clone(),
        e.user_agent.clone(),
        e.details.clone(),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

/// One JSON Lines record: the event with `details` as an object and `at` in RFC 3339.
pub fn json_line(e: &crate::store::AuditRecord) -> String {
    let details: serde_json::Value =
        serde_json::from_str(&e.details).unwrap_or(serde_json::Value::String(e.details.clone()));
    serde_json::json!({
        "id": e.id, "at": rfc3339(e.at), "event_type": e.event_type, "actor": e.actor,
        "subject": e.subject, "role_arn": e.role_arn, "account_id": e.account_id,
        "outcome": e.outcome, "source_addr": e.source_addr, "user_agent": e.user_agent,
        "details": details,
    })
    .to_string()
}

/// A sign-in attempt through any source (`local`, an LDAP or an OIDC source id). `subject` is
/// the username (as typed, for a failure: cut short, a SIEM needs it to see guessing).
pub async fn signin(
    store: &Store,
    subject: &str,
    ok: bool,
    source: &str,
    reason: &str,
    origin: &Origin,
) {
    record(
        store,
        NewAuditEvent {
            event_type: kind::SIGNIN.into(),
            subject: subject.chars().take(64).collect(),
            outcome: outcome(ok),
            source_addr: origin.addr.clone(),
            user_agent: origin.user_agent.clone(),
            details: serde_json::json!({"source": source, "reason": reason}),
            ..NewAuditEvent::default()
        },
    )
    .await;
}

/// An admin's change of configuration kept outside the history tables (users from the
/// command line); keys and Region controls record theirs inside their operations.
pub async fn admin_change(
    store: &Store,
    actor: &str,
    entity: &str,
    key: &str,
    action: &str,
    details: serde_json::Value,
) {
    store
        .record_admin_change(actor, entity, key, action, details, now())
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "\"plain\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd|' /C calc'!A0"), "\"'=cmd|' /C calc'!A0\"");
        assert_eq!(csv_field("a,b\nc"), "\"a,b\nc\"");
    }

    #[test]
    fn csv_fields_defuse_whitespace_and_full_width_formula_starts() {
        for hostile in [
            "\n=1+1",
            "\r=1+1",
            " =1+1",
            "\t=1+1",
            "\u{FF1D}1+1",
            "\u{FF0B}1",
            "\u{FF0D}1",
            "\u{FF20}SUM(A1)",
        ] {
            assert_eq!(
                csv_field(hostile),
                format!("\"'{hostile}\""),
                "{hostile:?} is defused"
            );
        }
        assert_eq!(csv_field("alice"), "\"alice\"");
        assert_eq!(csv_field(""), "\"\"");
    }
}
