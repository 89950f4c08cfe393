//! The dry run admins use to see exactly what a sign-in would produce: the roles, what AWS
//! would refuse, and the assertion itself, without sending anything.

use crate::directory::Identity;
use crate::domain::aws::{AwsRuleError, RolePair};
use crate::mapping::engine::Broken;
use crate::mapping::Evaluation;
use crate::saml::profile::AwsProfile;
use crate::saml::response::{preflight, sign_aws_response, unsigned_response_xml, ResponseError};
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
        notes: profile.rewrites(identity),
        preview_roles: Vec::new(),
        assertion_xml: None,
        signed_size: None,
        evaluation,
    };
    let attributes = match profile.user_attributes(identity) {
        Ok(a) => a,
        Err(errors) => {
            out.warnings = errors;
            return Ok(out);
        }
    };
    let roles: Vec<RolePair> = if profile.multi_role_chooser {
        out.evaluation.pairs()
    } else {
        out.evaluation.pairs().into_iter().take(1).collect()
    };
    let duration = session_duration(profile, &out.evaluation, &roles);
    let assertion = profile.assertion(identity, &attributes, acs_url, &roles, duration);
    if let Err(errors) = preflight(&assertion) {
        out.warnings.extend(errors);
    }
    out.preview_roles = roles.iter().map(|r| r.role.to_string()).collect();
    out.assertion_xml = Some(unsigned_response_xml(&assertion));
    if let (Some(signer), false) = (signer, roles.is_empty()) {
        match sign_aws_response(&assertion, signer, profile.sign_response) {
            Ok(signed) => out.signed_size = Some(signed.base64.len()),
            Err(ResponseError::Preflight(errors)) => {
                for e in errors {
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
