//! Refusals of access, decided and recorded in one place.
//!
//! Every path that hands out a role (the Console, CLI credentials and console-link forms, the
//! JSON API, pinning a favourite) asks [`permitted_roles`] whether the person holds it; the
//! token-scope check and the admin extractor call [`record_denial`] themselves. So a refusal
//! can never be answered without leaving an `access.denied` audit event with its reason, and
//! no handler has to remember to write one.

use crate::audit::Origin;
use crate::audit::{self, NewAuditEvent};
use crate::directory::Identity;
use crate::domain::aws::RolePair;
use crate::mapping::Evaluation;
use crate::store::Store;

/// Why no role could be chosen for a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefused {
    #[error("you have no AWS roles: none of your groups maps to a role")]
    NoRoles,
    #[error("role `{0}` is not one of your roles")]
    NotGranted(String),
}

/// The roles a request is for: the one named, or with the multi-role chooser and no role
/// named, every granted role.
pub fn chosen_roles(
    evaluation: &Evaluation,
    role: &str,
    all_at_once: bool,
) -> Result<Vec<RolePair>, RoleRefused> {
    let granted = evaluation.pairs();
    if granted.is_empty() {
        return Err(RoleRefused::NoRoles);
    }
    if all_at_once && role.is_empty() {
        return Ok(granted);
    }
    granted
        .into_iter()
        .find(|p| p.role.as_str() == role)
        .map(|p| vec![p])
        .ok_or_else(|| RoleRefused::NotGranted(role.to_string()))
}

/// Why access was refused, as recorded in the audit event's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The role asked for is not one the person's groups grant.
    RoleNotGranted,
    /// The person's groups grant no role at all.
    NoRoles,
    /// An API token was used for something its scopes do not cover.
    MissingScope,
    /// An admin page was asked for by someone outside the admin group.
    NotAdmin,
}

impl Denial {
    /// The code stored in the audit event (and, for the API, sent as the error code).
    pub fn code(self) -> &'static str {
        match self {
            Denial::RoleNotGranted => "role_not_granted",
            Denial::NoRoles => "no_roles",
            Denial::MissingScope => "missing_scope",
            Denial::NotAdmin => "not_admin",
        }
    }
}

/// Records one refusal: who, what they asked for (`role_arn` may be empty), from where, why.
pub async fn record_denial(
    store: &Store,
    username: &str,
    denial: Denial,
    role_arn: &str,
    origin: &Origin,
    details: serde_json::Value,
) {
    let mut all = serde_json::json!({ "reason": denial.code() });
    if let (Some(map), serde_json::Value::Object(extra)) = (all.as_object_mut(), details) {
        map.extend(extra);
    }
    audit::record(
        store,
        NewAuditEvent {
            event_type: audit::kind::DENIED.into(),
            actor: username.to_string(),
            subject: username.to_string(),
            role_arn: role_arn.chars().take(2048).collect(),
            account_id: audit::account_of(role_arn).chars().take(12).collect(),
            outcome: audit::outcome(false),
            source_addr: origin.addr.clone(),
            user_agent: origin.user_agent.clone(),
            details: all,
        },
    )
    .await;
}

/// The roles a request may use: the one named (or, when `all_at_once` — the multi-role
/// chooser asked for by a path that can send several — every granted role). A role the person
/// does not hold is refused and the refusal recorded, whichever path asked; `purpose` names
/// the path (`console`, `credentials`, `favourite`).
pub async fn permitted_roles(
    store: &Store,
    identity: &Identity,
    evaluation: &Evaluation,
    role: &str,
    all_at_once: bool,
    purpose: &str,
    origin: &Origin,
) -> Result<Vec<RolePair>, RoleRefused> {
    let chosen = chosen_roles(evaluation, role, all_at_once);
    if let Err(refused) = &chosen {
        let denial = match refused {
            RoleRefused::NotGranted(_) => Denial::RoleNotGranted,
            RoleRefused::NoRoles => Denial::NoRoles,
        };
        record_denial(
            store,
            &identity.username,
            denial,
            role,
            origin,
            serde_json::json!({ "purpose": purpose }),
        )
        .await;
    }
    chosen
}
