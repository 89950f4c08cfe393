//! Console sign-in: from a person and a chosen role to a signed Response posted to the AWS
//! sign-in endpoint of a healthy Region.

use chrono::Utc;

use crate::directory::Identity;
use crate::domain::aws::{AwsRuleError, RolePair};
use crate::regions::RegionError;
use crate::roles::session_duration;
use crate::saml::response::{sign_aws_response, AwsAssertion, ResponseError};
use crate::startup::AppState;

/// What the auto-POST page needs.
#[derive(Debug, Clone)]
pub struct ConsolePost {
    pub acs_url: String,
    pub relay_state: String,
    pub saml_response: String,
    pub region: String,
    pub reason: &'static str,
    pub roles: Vec<String>,
    pub assertion_id: String,
}

/// Why a console sign-in could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("you have no AWS roles: none of your groups maps to a role")]
    NoRoles,
    #[error("role `{0}` is not one of your roles")]
    RoleNotGranted(String),
    #[error(transparent)]
    Region(#[from] RegionError),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Preflight(Vec<AwsRuleError>),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Builds and signs the Response for one role (or, with the multi-role chooser, every role).
pub async fn console_post(
    state: &AppState,
    identity: &Identity,
    role: &str,
    region: Option<&str>,
) -> Result<ConsolePost, SignInError> {
    let profile = &state.profile;
    let evaluation = state.rules.evaluate(&state.store, &identity.groups).await?;
    let granted = evaluation.pairs();
    if granted.is_empty() {
        return Err(SignInError::NoRoles);
    }
    let roles: Vec<RolePair> = if profile.multi_role_chooser && role.is_empty() {
        granted
    } else {
        let chosen = granted
            .into_iter()
            .find(|p| p.role.as_str() == role)
            .ok_or_else(|| SignInError::RoleNotGranted(role.to_string()))?;
        vec![chosen]
    };
    let attributes = profile
        .user_attributes(identity)
        .map_err(SignInError::Preflight)?;
    let choice = state.regions.choose(region).await?;
    let signer = state.keys.signer().await?;
    let assertion = AwsAssertion {
        issuer: &profile.entity_id,
        acs_url: &choice.endpoint.acs_url,
        partition: profile.partition,
        name_id: &identity.username,
        roles: &roles,
        session_name: &attributes.session_name,
        source_identity: attributes.source_identity.as_ref(),
        session_duration: Some(session_duration(profile, &evaluation, &roles)),
        tags: &attributes.tags,
        issued_at: Utc::now(),
        validity_secs: profile.validity_secs,
        skew_secs: profile.skew_secs,
    };
    let signed = match sign_aws_response(&assertion, &signer, profile.sign_response) {
        Ok(s) => s,
        Err(ResponseError::Preflight(errors)) => {
            tracing::warn!(user = %identity.username, violations = errors.len(), "assertion refused by pre-flight checks");
            return Err(SignInError::Preflight(errors));
        }
        Err(ResponseError::Crypto(e)) => return Err(SignInError::Internal(e.into())),
    };
    // A rule's console deep link applies when one role is sent.
    let deep_link = match roles.as_slice() {
        [one] => evaluation
            .grant(one.role.as_str())
            .and_then(|g| g.relay_state.clone()),
        _ => None,
    };
    let role_names: Vec<String> = roles.iter().map(|r| r.role.to_string()).collect();
    tracing::info!(
        user = %identity.username,
        roles = ?role_names,
        region = %choice.endpoint.region,
        acs = %choice.endpoint.acs_url,
        reason = choice.reason,
        session_name = attributes.session_name.as_str(),
        assertion_id = %signed.assertion_id,
        "console sign-in assertion issued"
    );
    Ok(ConsolePost {
        acs_url: choice.endpoint.acs_url.clone(),
        relay_state: deep_link.unwrap_or_else(|| choice.endpoint.console_url.clone()),
        saml_response: signed.base64,
        region: choice.endpoint.region.to_string(),
        reason: choice.reason,
        roles: role_names,
        assertion_id: signed.assertion_id,
    })
}
