//! The dry run admins use to see exactly what a sign-in would produce: the roles, what AWS
//! would refuse, and the assertion itself, without sending anything.

use crate::directory::Identity;
use crate::domain::aws::{AwsRuleError, RolePair};
use crate::mapping::engine::Broken;
use crate::mapping::{Evaluation, Grant};
use crate::saml::profile::AwsProfile;
use crate::saml::response::{
    preflight, sign_aws_response_for, unsigned_response_xml, ResponseError,
};
use crate::saml::sign::XmlSigner;
use crate::store::{Store, StoreError};

use super::cache::{session_duration, RoleMapper};

/// What a sign-in would produce for one person, for `/admin/test` and `fedbroker rules test`.
#[derive(Debug)]
pub struct DryRun {
    pub username: String,
    pub groups: Vec<String>,
    pub evaluation: Evaluation,
    pub broken: Vec<Broken>,
    /// Every AWS rule the assertion would break (session name, tags, partition, size).
    pub warnings: Vec<AwsRuleError>,
    /// Values fedbroker rewrote to fit AWS (session name, source identity), before → after.
    pub notes: Vec<String>,
    /// The role the preview assertion is for (each role gets its own assertion unless the
    /// multi-role chooser is on, when all are sent).
    pub preview_roles: Vec<String>,
    /// The Response before signing.
    pub assertion_xml: Option<String>,
    /// Base64 size of the signed Response, when a signing key was at hand.
    pub signed_size: Option<usize>,
    /// For each granted role, how its session would be shaped and sent.
    pub plans: Vec<RolePlan>,
}

/// How one granted role's session would be shaped, on every path.
#[derive(Debug, Clone)]
pub struct RolePlan {
    pub role: String,
    pub rule: String,
    /// How the portal's Console button opens it.
    pub console_path: &'static str,
    pub console_path_why: String,
    /// What the console and CLI ask for, and why.
    pub duration_secs: u32,
    pub duration_why: String,
    pub session_name: String,
    pub source_identity: String,
    /// Key, value, and where it came from (settings or rule).
    pub tags: Vec<(String, String, &'static str)>,
    pub transitive_tag_keys: Vec<String>,
    /// The `AssumeRoleWithSAML` parameters CLI credentials (and a federation link) send.
    pub sts_parameters: Vec<(String, String)>,
    /// What AWS would refuse for this role.
    pub problems: Vec<String>,
}

/// The plan of one granted role: the same functions the sign-in paths call.
async fn plan(
    store: &Store,
    profile: &AwsProfile,
    identity: &Identity,
    evaluation: &Evaluation,
    grant: &Grant,
) -> Result<RolePlan, StoreError> {
    let wanted = grant.duration.unwrap_or(profile.session_duration).secs();
    let mut duration_why = match grant.duration {
        Some(_) => format!("rule `{}` asks for {wanted} s", grant.cause.rule),
        None => format!("the settings' default, {wanted} s (the rule names none)"),
    };
    let mut duration_secs = wanted;
    // What STS is asked for: the same, except that a limit learned over a day ago is put to
    // STS again (`aws::credentials`), while the console keeps to it.
    let mut sts_duration = wanted;
    if let Some(limit) = store.role_session_limit(grant.pair.role.as_str()).await? {
        let max = u32::try_from(limit.max_duration).unwrap_or(wanted);
        if max < wanted {
            duration_secs = max;
            let stale = limit.is_stale(crate::clock::now());
            if !stale {
                sts_duration = max;
            }
            duration_why.push_str(&format!(
                "; shortened to {max} s: STS refused {} s for this role on {} (a learned MaxSessionDuration; {}; an admin can forget it on the Regions page)",
                limit.refused_duration,
                crate::clock::readable(limit.learned_at),
                if stale {
                    format!("it is over a day old, so CLI credentials ask STS for {wanted} s again")
                } else {
                    format!("CLI credentials ask for {wanted} s again once it is a day old")
                }
            ));
        }
    }
    let (console_path, console_path_why) = if grant.session.has_policy() {
        (
            "federation link",
            "the rule sets a session policy, which only STS can apply: STS AssumeRoleWithSAML with the policy, then getSigninToken and the console login URL".to_string(),
        )
    } else {
        (
            "SAML sign-in",
            "a signed Response posted to a healthy Region's sign-in endpoint".to_string(),
        )
    };
    let mut out = RolePlan {
        role: grant.pair.role.to_string(),
        rule: grant.cause.rule.clone(),
        console_path,
        console_path_why,
        duration_secs,
        duration_why,
        session_name: String::new(),
        source_identity: String::new(),
        tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        sts_parameters: evaluation
            .assume_request(&grant.pair, sts_duration)
            .parameters(),
        problems: Vec::new(),
    };
    match profile.user_attributes(identity, &grant.session) {
        Ok(a) => {
            out.session_name = a.session_name.as_str().to_string();
            out.source_identity = a
                .source_identity
                .as_ref()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            out.tags = a
                .tags
                .tags()
                .iter()
                .zip(&a.tag_origins)
                .map(|((k, v), o)| (k.clone(), v.clone(), o.describe()))
                .collect();
            out.transitive_tag_keys = a.tags.transitive().to_vec();
        }
        Err(errors) => out.problems = errors.iter().map(ToString::to_string).collect(),
    }
    Ok(out)
}

/// Runs the rules for `identity` and builds (but does not send) the assertion.
pub async fn dry_run(
    store: &Store,
    mapper: &RoleMapper,
    profile: &AwsProfile,
    acs_url: &str,
    identity: &Identity,
    signer: Option<&XmlSigner>,
) -> Result<DryRun, StoreError> {
    let compiled = mapper.current(store).await?;
    let evaluation = compiled.set.evaluate(&identity.groups);
    let mut out = DryRun {
        username: identity.username.clone(),
        groups: identity.groups.clone(),
        broken: compiled.broken.clone(),
        warnings: Vec::new(),
        notes: Vec::new(),
        preview_roles: Vec::new(),
        assertion_xml: None,
        signed_size: None,
        plans: Vec::new(),
        evaluation,
    };
    for grant in &out.evaluation.granted {
        out.plans
            .push(plan(store, profile, identity, &out.evaluation, grant).await?);
    }
    // The preview is the Response the Console button would post first: the first role that
    // can have one (a role with a session policy never does), or with the multi-role chooser
    // every role one Response can carry (one set of controls, one encryption target).
    let candidates: Vec<RolePair> = out
        .evaluation
        .granted
        .iter()
        .filter(|g| !g.session.has_policy())
        .map(|g| g.pair.clone())
        .collect();
    let roles: Vec<RolePair> = if profile.multi_role_chooser {
        crate::saml::encrypt::one_target(store, out.evaluation.one_response(candidates)).await?
    } else {
        candidates.into_iter().take(1).collect()
    };
    let encryption = match roles.first() {
        Some(pair) => match crate::saml::encrypt::target_for(store, pair.provider.as_str()).await {
            Ok(target) => target,
            Err(crate::saml::encrypt::TargetError::Store(e)) => return Err(e),
            Err(other) => {
                out.notes.push(other.to_string());
                None
            }
        },
        None => None,
    };
    let acs = match &encryption {
        Some(target) => {
            out.notes.push(format!(
                "the Assertion is encrypted for provider {} (IdP ID {}) and posted to its ACS URL",
                roles[0].provider.as_str(),
                target.idp_id
            ));
            crate::saml::encrypt::encrypted_acs_url(acs_url, &target.idp_id)
        }
        None => acs_url.to_string(),
    };
    let acs_url = acs.as_str();
    let shape = roles
        .first()
        .and_then(|r| out.evaluation.grant(r.role.as_str()))
        .map(|g| g.session.clone())
        .unwrap_or_default();
    out.notes.extend(profile.rewrites(identity, &shape));
    let attributes = match profile.user_attributes(identity, &shape) {
        Ok(a) => a,
        Err(errors) => {
            out.warnings = errors;
            return Ok(out);
        }
    };
    let duration = session_duration(profile, &out.evaluation, &roles);
    let assertion = profile.assertion(identity, &attributes, acs_url, &roles, duration);
    if let Err(errors) = preflight(&assertion) {
        out.warnings.extend(errors);
    }
    out.preview_roles = roles.iter().map(|r| r.role.to_string()).collect();
    out.assertion_xml = Some(unsigned_response_xml(&assertion));
    if let (Some(signer), false) = (signer, roles.is_empty()) {
        match sign_aws_response_for(
            &assertion,
            signer,
            profile.sign_response,
            encryption.as_ref().map(|t| &t.key),
        ) {
            Ok(signed) => out.signed_size = Some(signed.base64.len()),
            Err(ResponseError::Preflight(errors)) => {
                for e in super::size_advice::explain_oversize(&out.evaluation, &roles, errors) {
                    if !out.warnings.contains(&e) {
                        out.warnings.push(e);
                    }
                }
            }
            Err(ResponseError::Crypto(e)) => tracing::warn!(error = %e, "dry run could not sign"),
        }
    }
    Ok(out)
}

/// Whom a dry run is for.
#[derive(Debug, Clone)]
pub enum DryRunSubject {
    /// A user of the directory, with their groups as stored.
    User(String),
    /// Pasted groups; the username (if any) shapes RoleSessionName and tags.
    Groups {
        username: String,
        groups: Vec<String>,
    },
}

/// The identity a dry run evaluates; the inner error says why there is none (unknown user).
pub async fn identity_for_dry_run(
    store: &Store,
    subject: DryRunSubject,
) -> Result<Result<Identity, String>, StoreError> {
    match subject {
        DryRunSubject::User(name) => {
            let Some(user) = store.user_by_username(&name).await? else {
                return Ok(Err(format!(
                    "There is no user `{name}` in the directory. Check the spelling, or paste their groups instead."
                )));
            };
            Ok(crate::directory::local::identity_of(store, user.id)
                .await?
                .ok_or_else(|| format!("User `{name}` was removed meanwhile.")))
        }
        DryRunSubject::Groups { username, groups } => Ok(Ok(Identity {
            user_id: 0,
            username: if username.is_empty() {
                "dry-run".to_string()
            } else {
                username
            },
            display_name: String::new(),
            email: String::new(),
            groups,
            must_change_password: false,
            attributes: Default::default(),
            source: "local".to_string(),
            memberships: Vec::new(),
        })),
    }
}
