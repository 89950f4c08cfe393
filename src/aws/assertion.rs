//! From a person and a chosen role to a signed Response: posted by the browser to the AWS
//! sign-in endpoint of a healthy Region (console), or exchanged at STS (credentials).

use crate::audit::{self, NewAuditEvent, Origin};
use crate::auth::access::{permitted_roles, RoleRefused};
use crate::aws::regions::RegionError;
use crate::aws::AwsContext;
use crate::directory::Identity;
use crate::domain::aws::{AwsRuleError, RolePair, SessionDuration};
use crate::mapping::Evaluation;
use crate::rules::session_duration;
use crate::rules::size_advice::explain_oversize;
use crate::saml::base64_field::Base64;
use crate::saml::encrypt::{encrypted_acs_url, one_target, target_for, TargetError};
use crate::saml::response::{sign_aws_response_for, ResponseError};

/// What the auto-POST page needs.
#[derive(Debug, Clone)]
pub struct ConsolePost {
    pub acs_url: String,
    pub relay_state: String,
    pub saml_response: Base64,
    pub region: String,
    pub reason: &'static str,
    pub roles: Vec<String>,
    pub assertion_id: String,
}

/// Why a sign-in could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(transparent)]
    Refused(#[from] RoleRefused),
    #[error(transparent)]
    Region(#[from] RegionError),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Preflight(Vec<AwsRuleError>),
    /// The role's rule gives its sessions a session policy, which a SAML sign-in cannot carry:
    /// only STS and the federation link (`aws::console`) may open it.
    #[error("role {0} has a session policy, which a SAML sign-in cannot carry: open it with the portal's Console button, which signs in through a federation link")]
    NeedsFederation(String),
    /// A landing page that is not a console address of the role's partition.
    #[error("{0}")]
    Landing(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A signed Response and what went into it.
#[derive(Debug, Clone)]
pub struct IssuedAssertion {
    /// Where it is addressed: the sign-in endpoint asked for, or, for an account whose SAML
    /// provider takes encrypted assertions, that provider's ACS URL at the same endpoint.
    pub acs_url: String,
    pub saml_response: Base64,
    pub assertion_id: String,
    pub roles: Vec<RolePair>,
    pub duration: SessionDuration,
    /// The rule's console page, when one role is sent and its rule has one.
    pub deep_link: Option<String>,
}

/// Builds, checks and signs a Response for `roles`, addressed to `acs_url`, and records it in
/// the audit log. `duration` overrides the rules' SessionDuration (after STS refused it).
#[allow(clippy::too_many_arguments)]
pub async fn issue_assertion(
    aws: AwsContext<'_>,
    identity: &Identity,
    evaluation: &Evaluation,
    roles: Vec<RolePair>,
    acs_url: &str,
    region: &str,
    duration: Option<SessionDuration>,
    origin: &Origin,
) -> Result<IssuedAssertion, SignInError> {
    let profile = aws.profile;
    // Every role of one Response shares its rule's session controls (`console_roles` keeps it
    // so): the first role's grant says what they are.
    let shape = roles
        .first()
        .and_then(|r| evaluation.grant(r.role.as_str()))
        .map(|g| g.session.clone())
        .unwrap_or_default();
    let attributes = profile
        .user_attributes(identity, &shape)
        .map_err(SignInError::Preflight)?;
    let encryption = match roles.first() {
        Some(pair) => target_for(aws.store, pair.provider.as_str())
            .await
            .map_err(|e| match e {
                TargetError::Store(e) => SignInError::Store(e),
                other => SignInError::Internal(other.into()),
            })?,
        None => None,
    };
    let acs_url = match &encryption {
        Some(target) => encrypted_acs_url(acs_url, &target.idp_id),
        None => acs_url.to_string(),
    };
    let signer = aws.keys.signer().await?;
    let duration = duration.unwrap_or_else(|| session_duration(profile, evaluation, &roles));
    let assertion = profile.assertion(identity, &attributes, &acs_url, &roles, duration);
    let signed = match sign_aws_response_for(
        &assertion,
        &signer,
        profile.sign_response,
        encryption.as_ref().map(|t| &t.key),
    ) {
        Ok(s) => s,
        Err(ResponseError::Preflight(errors)) => {
            tracing::warn!(user = %identity.username, violations = errors.len(), "assertion refused by pre-flight checks");
            return Err(SignInError::Preflight(explain_oversize(
                evaluation, &roles, errors,
            )));
        }
        Err(ResponseError::Crypto(e)) => return Err(SignInError::Internal(e.into())),
    };
    let role_names: Vec<String> = roles.iter().map(|r| r.role.to_string()).collect();
    // No Response leaves unrecorded: when the event cannot be stored, the sign-in fails
    // (503, the database is unavailable) and the signed Response is dropped.
    audit::record_before_acting(
        aws.store,
        NewAuditEvent {
            event_type: audit::kind::ASSERTION.into(),
            actor: identity.username.clone(),
            subject: identity.username.clone(),
            role_arn: role_names.first().cloned().unwrap_or_default(),
            account_id: role_names
                .first()
                .map(|r| audit::account_of(r))
                .unwrap_or_default(),
            outcome: audit::outcome(true),
            source_addr: origin.addr.clone(),
            user_agent: origin.user_agent.clone(),
            details: serde_json::json!({
                "roles": role_names,
                "session_name": attributes.session_name.as_str(),
                "source_identity": attributes.source_identity.as_ref().map(|s| s.as_str()),
                "tags": attributes.tags.tags(),
                "region": region,
                "acs": acs_url,
                "encrypted": encryption.is_some(),
                "duration": duration.secs(),
                "assertion_id": signed.assertion_id,
            }),
        },
    )
    .await?;
    let deep_link = match roles.as_slice() {
        [one] => evaluation
            .grant(one.role.as_str())
            .and_then(|g| g.relay_state.clone()),
        _ => None,
    };
    Ok(IssuedAssertion {
        acs_url,
        saml_response: signed.base64,
        assertion_id: signed.assertion_id,
        roles,
        duration,
        deep_link,
    })
}

/// Builds and signs the Response for one role (or, with the multi-role chooser, every role
/// one Response can carry) for the chosen (or first healthy) Region's sign-in endpoint.
pub async fn console_post(
    aws: AwsContext<'_>,
    identity: &Identity,
    role: &str,
    region: Option<&str>,
    origin: &Origin,
) -> Result<ConsolePost, SignInError> {
    let evaluation = aws.rules.evaluate(aws.store, &identity.groups).await?;
    console_post_for(aws, identity, &evaluation, role, region, origin).await
}

/// [`console_post`] on an evaluation already made. Refuses ([`SignInError::NeedsFederation`])
/// a role whose rule has a session policy, whoever asks: a SAML Response would open it
/// without the policy.
pub async fn console_post_for(
    aws: AwsContext<'_>,
    identity: &Identity,
    evaluation: &Evaluation,
    role: &str,
    region: Option<&str>,
    origin: &Origin,
) -> Result<ConsolePost, SignInError> {
    let all_at_once = aws.profile.multi_role_chooser;
    let roles = permitted_roles(
        aws.store,
        identity,
        evaluation,
        role,
        all_at_once,
        "console",
        origin,
    )
    .await?;
    let roles = one_target(aws.store, evaluation.one_response(roles)).await?;
    if let Some(p) = roles.iter().find(|p| {
        evaluation
            .grant(p.role.as_str())
            .is_some_and(|g| g.session.has_policy())
    }) {
        return Err(SignInError::NeedsFederation(p.role.to_string()));
    }
    let choice = aws.regions.choose(region).await?;
    let duration = console_duration(aws, evaluation, &roles).await?;
    let issued = issue_assertion(
        aws,
        identity,
        evaluation,
        roles,
        &choice.endpoint.acs_url,
        choice.endpoint.region.as_str(),
        Some(duration),
        origin,
    )
    .await?;
    tracing::info!(
        user = %identity.username,
        region = %choice.endpoint.region,
        acs = %choice.endpoint.acs_url,
        reason = choice.reason,
        assertion_id = %issued.assertion_id,
        "console sign-in assertion issued"
    );
    Ok(ConsolePost {
        acs_url: issued.acs_url.clone(),
        relay_state: issued
            .deep_link
            .clone()
            .unwrap_or_else(|| choice.endpoint.console_url.clone()),
        saml_response: issued.saml_response,
        region: choice.endpoint.region.to_string(),
        reason: choice.reason,
        roles: issued.roles.iter().map(|r| r.role.to_string()).collect(),
        assertion_id: issued.assertion_id,
    })
}

/// The SessionDuration of a console sign-in: the rules' duration, clamped to the shortest
/// MaxSessionDuration STS has taught us for these roles. The console POST gets no answer from
/// AWS to learn from (a too-long duration is AWS's own error page), so what the CLI path
/// learned applies here, however old.
async fn console_duration(
    aws: AwsContext<'_>,
    evaluation: &Evaluation,
    roles: &[RolePair],
) -> Result<SessionDuration, SignInError> {
    let wanted = session_duration(aws.profile, evaluation, roles);
    let mut secs = wanted.secs();
    for pair in roles {
        if let Some(limit) = aws.store.role_session_limit(pair.role.as_str()).await? {
            secs = secs.min(u32::try_from(limit.max_duration).unwrap_or(secs));
        }
    }
    if secs == wanted.secs() {
        return Ok(wanted);
    }
    SessionDuration::parse(i64::from(secs)).map_err(|e| SignInError::Preflight(vec![e]))
}
