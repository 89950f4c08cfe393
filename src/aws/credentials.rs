//! CLI credentials: a role → a signed assertion → STS AssumeRoleWithSAML (regional, with
//! failover) → temporary credentials. Console links build on these (`federation`).
//!
//! MaxSessionDuration: when STS answers that the requested DurationSeconds exceeds the role's
//! MaxSessionDuration, the broker signs a fresh assertion and asks once more for 3,600 seconds
//! (the smallest MaxSessionDuration IAM allows, so always accepted), tells the person, and
//! remembers the role's limit so later requests ask for it directly. Admins see every such
//! role with a hint to raise MaxSessionDuration.

use crate::audit::Origin;
use crate::audit::{self, NewAuditEvent};
use crate::auth::access::permitted_roles;
use crate::aws::assertion::{issue_assertion, SignInError};
use crate::aws::sts::{Issued, StsError};
use crate::aws::AwsContext;
use crate::clock::now;
use crate::directory::Identity;
use crate::domain::aws::{AssumeRequest, RolePair, SessionDuration};
use crate::mapping::Evaluation;

/// The longest duration every role accepts.
pub const ALWAYS_ACCEPTED_SECS: u32 = 3_600;

/// Credentials ready to show.
#[derive(Debug, Clone)]
pub struct RoleCredentials {
    pub issued: Issued,
    pub pair: RolePair,
    pub duration: u32,
    /// Set when the duration had to be shortened; says what happened.
    pub adjusted: Option<String>,
    /// The console page the granting rule lands on, if it names one.
    pub deep_link: Option<String>,
}

/// Why no credentials (or URL) were produced.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    SignIn(#[from] SignInError),
    #[error(transparent)]
    Sts(#[from] StsError),
    #[error("the AWS federation endpoint failed: {0}")]
    Federation(String),
    /// STS refused the session policy or tags a rule (or the settings) shape the session with.
    #[error("AWS STS refused the session {what} of {source_of} ({code}: {message}); {fix}")]
    SessionShape {
        what: &'static str,
        source_of: String,
        code: String,
        message: String,
        fix: &'static str,
    },
}

/// A refusal of the session policy or tags, said in terms of the rule that set them; other
/// refusals as STS gave them.
fn name_the_rule(error: StsError, evaluation: &Evaluation, pair: &RolePair) -> CredentialsError {
    let StsError::Refused { code, message, .. } = &error else {
        return error.into();
    };
    let grant = evaluation.grant(pair.role.as_str());
    let rule = grant.map(|g| g.cause.rule.clone()).unwrap_or_default();
    let shape = grant.map(|g| g.session.clone()).unwrap_or_default();
    let (what, fix) = match code.as_str() {
        "MalformedPolicyDocument" => (
            "policy",
            "correct the rule's inline session policy (the admin dry run shows it as sent) or its policy ARNs",
        ),
        "PackedPolicyTooLarge" => (
            "policies and tags",
            "AWS packs session policies and tags together and this exceeds its limit: shorten the inline policy, \
             move statements into a managed policy, or send fewer or shorter session tags",
        ),
        _ => return error.into(),
    };
    let source_of = if shape.has_policy() || !shape.tags.is_empty() {
        format!("rule `{rule}`")
    } else {
        "the [saml] principal_tags setting".to_string()
    };
    CredentialsError::SessionShape {
        what,
        source_of,
        code: code.clone(),
        message: message.clone(),
        fix,
    }
}

async fn audit_sts(
    aws: AwsContext<'_>,
    identity: &Identity,
    pair: &RolePair,
    origin: &Origin,
    request: &AssumeRequest,
    result: &Result<Issued, StsError>,
) {
    let duration = request.duration_secs;
    let policy_arns: Vec<&str> = request.policy_arns.iter().map(|a| a.as_str()).collect();
    let policy = request.policy.as_ref().map(|p| p.as_str());
    let (ok, details) = match result {
        Ok(i) => (
            true,
            serde_json::json!({
                "endpoint": i.endpoint.url,
                "region": i.endpoint.region.as_str(),
                "assumed_role_arn": i.assumed_role_arn,
                "access_key_id": i.access_key_id,
                "expiration": i.expiration,
                "source_identity": i.source_identity,
                "packed_policy_size": i.packed_policy_size,
                "duration": duration,
                "policy_arns": policy_arns,
                "policy": policy,
                "failed_endpoints": i.failed,
            }),
        ),
        Err(e) => (
            false,
            serde_json::json!({"error": e.to_string(), "duration": duration, "policy_arns": policy_arns, "policy": policy}),
        ),
    };
    audit::record(
        aws.store,
        NewAuditEvent {
            event_type: audit::kind::STS.into(),
            actor: identity.username.clone(),
            subject: identity.username.clone(),
            role_arn: pair.role.to_string(),
            account_id: pair.role.account().to_string(),
            outcome: audit::outcome(ok),
            source_addr: origin.addr.clone(),
            user_agent: origin.user_agent.clone(),
            details,
        },
    )
    .await;
}

/// One signed assertion exchanged at STS, audited either way.
async fn exchange(
    aws: AwsContext<'_>,
    identity: &Identity,
    evaluation: &Evaluation,
    pair: &RolePair,
    duration: u32,
    origin: &Origin,
) -> Result<Issued, CredentialsError> {
    // The assertion's Recipient must be a sign-in URL the trust policy lists: the first one.
    let endpoint =
        aws.regions.endpoints().first().cloned().ok_or_else(|| {
            SignInError::Internal(anyhow::anyhow!("no sign-in Region configured"))
        })?;
    let assertion = issue_assertion(
        aws,
        identity,
        evaluation,
        vec![pair.clone()],
        &endpoint.acs_url,
        endpoint.region.as_str(),
        SessionDuration::parse(i64::from(duration)).ok(),
        origin,
    )
    .await?;
    let request = evaluation.assume_request(pair, duration);
    let result = aws
        .sts
        .assume_role_with_saml(&request, &assertion.saml_response, now())
        .await;
    audit_sts(aws, identity, pair, origin, &request, &result).await;
    result.map_err(|e| name_the_rule(e, evaluation, pair))
}

/// Temporary credentials for one of the person's roles.
pub async fn credentials(
    aws: AwsContext<'_>,
    identity: &Identity,
    role: &str,
    origin: &Origin,
) -> Result<RoleCredentials, CredentialsError> {
    let evaluation = aws
        .rules
        .evaluate(aws.store, &identity.groups)
        .await
        .map_err(SignInError::from)?;
    let pair = permitted_roles(
        aws.store,
        identity,
        &evaluation,
        role,
        false,
        "credentials",
        origin,
    )
    .await
    .map_err(SignInError::from)?
    .remove(0);
    let deep_link = evaluation
        .grant(pair.role.as_str())
        .and_then(|g| g.relay_state.clone());
    let wanted = evaluation
        .grant(pair.role.as_str())
        .and_then(|g| g.duration)
        .unwrap_or(aws.profile.session_duration)
        .secs();
    let known = aws
        .store
        .role_session_limit(pair.role.as_str())
        .await
        .map_err(SignInError::from)?;
    // A limit learned more than a day ago is tried again: an administrator may have raised the
    // role's MaxSessionDuration since. If STS then accepts more, the limit is forgotten (and the
    // console path, which cannot learn by itself, stops clamping); if not, it is learned anew.
    let stale = known.as_ref().is_some_and(|k| k.is_stale(now()));
    let duration = match &known {
        Some(k) if !stale => wanted.min(u32::try_from(k.max_duration).unwrap_or(wanted)),
        _ => wanted,
    };
    let outcome = exchange(aws, identity, &evaluation, &pair, duration, origin).await;
    if let (Ok(_), Some(k)) = (&outcome, &known) {
        if i64::from(duration) > k.max_duration {
            aws.store
                .forget_role_session_limit(pair.role.as_str())
                .await
                .map_err(SignInError::from)?;
        }
    }
    match outcome {
        Ok(issued) => Ok(RoleCredentials {
            issued,
            adjusted: (duration < wanted).then(|| {
                format!(
                    "This role allows sessions of at most {} hours, so these credentials last {} hours \
                     instead of the {} hours your access rule asks for. An administrator can raise the \
                     role's MaxSessionDuration in IAM.",
                    duration / 3600, duration / 3600, wanted / 3600
                )
            }),
            pair,
            duration,
            deep_link,
        }),
        Err(CredentialsError::Sts(e)) if e.is_duration_too_long() && duration > ALWAYS_ACCEPTED_SECS => {
            tracing::info!(role = %pair.role, refused = duration, "STS refused the duration; retrying with 3600 s");
            let issued = exchange(aws, identity, &evaluation, &pair, ALWAYS_ACCEPTED_SECS, origin).await?;
            aws.store
                .set_role_session_limit(pair.role.as_str(), i64::from(ALWAYS_ACCEPTED_SECS), i64::from(duration), now())
                .await
                .map_err(SignInError::from)?;
            Ok(RoleCredentials {
                issued,
                adjusted: Some(format!(
                    "AWS refused a {}-hour session for this role (its MaxSessionDuration is shorter), so \
                     these credentials last 1 hour. fedbroker will ask for 1 hour from now on; an \
                     administrator can raise the role's MaxSessionDuration in IAM.",
                    duration / 3600
                )),
                pair,
                duration: ALWAYS_ACCEPTED_SECS,
                deep_link,
            })
        }
        Err(e) => Err(e),
    }
}

/// An admin forgets what STS taught about a role's MaxSessionDuration (after raising it in
/// IAM, say), so the rules' duration is asked for again at the next sign-in. Recorded in the
/// audit log; `false` when nothing was learned for the role.
pub async fn forget_learned_limit(
    store: &crate::store::Store,
    role_arn: &str,
    actor: &str,
    now: i64,
) -> Result<bool, crate::store::StoreError> {
    let Some(limit) = store.role_session_limit(role_arn).await? else {
        return Ok(false);
    };
    store.forget_role_session_limit(role_arn).await?;
    store
        .record_admin_change(
            actor,
            "role_session_limit",
            role_arn,
            "forget",
            serde_json::json!({
                "max_duration": limit.max_duration,
                "refused_duration": limit.refused_duration,
                "learned_at": limit.learned_at,
            }),
            now,
        )
        .await;
    Ok(true)
}
