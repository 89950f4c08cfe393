//! Which AWS roles a person gets now: the rules in the database, compiled once per rule-set
//! generation and cached per instance, evaluated over the person's groups; and the dry run
//! admins use to see exactly what a sign-in would produce.

use std::sync::{Arc, RwLock};

use crate::directory::Identity;
use crate::domain::aws::{AwsRuleError, RolePair, SessionDuration};
use crate::mapping::engine::Broken;
use crate::mapping::{Evaluation, RuleSet};
use crate::saml::profile::AwsProfile;
use crate::saml::response::{preflight, sign_aws_response, unsigned_response_xml, ResponseError};
use crate::saml::sign::XmlSigner;
use crate::store::{RuleRecord, Store, StoreError};

/// A compiled rule set and the stored rules it had to leave out.
#[derive(Debug)]
pub struct Compiled {
    pub set: RuleSet,
    pub broken: Vec<Broken>,
}

/// Compiles stored rules (in evaluation order), reusing what `previous` compiled already.
pub fn compile(
    generation: i64,
    records: &[RuleRecord],
    profile: &AwsProfile,
    previous: Option<&Compiled>,
) -> Compiled {
    let specs: Vec<_> = records.iter().map(RuleRecord::spec).collect();
    let (set, broken) = RuleSet::build(
        generation,
        profile.partition,
        &profile.provider_name,
        &specs,
        previous.map(|p| &p.set),
    );
    for b in &broken {
        tracing::warn!(rule = %b.rule, error = %b.error, "mapping rule left out of the rule set");
    }
    Compiled { set, broken }
}

/// The per-instance cache of the compiled rule set.
pub struct RoleMapper {
    profile: AwsProfile,
    cache: RwLock<Option<Arc<Compiled>>>,
}

impl RoleMapper {
    pub fn new(profile: AwsProfile) -> RoleMapper {
        RoleMapper {
            profile,
            cache: RwLock::new(None),
        }
    }

    /// The rule set of the stored generation, recompiled only when the generation moved (one
    /// small query per call, so a change made through another instance is seen at once).
    pub async fn current(&self, store: &Store) -> Result<Arc<Compiled>, StoreError> {
        let generation = store.rules_generation().await?;
        if let Some(c) = self.cached().filter(|c| c.set.generation == generation) {
            return Ok(c);
        }
        let records = store.list_rules().await?;
        let previous = self.cached();
        let compiled = Arc::new(compile(
            generation,
            &records,
            &self.profile,
            previous.as_deref(),
        ));
        if let Ok(mut slot) = self.cache.write() {
            *slot = Some(compiled.clone());
        }
        Ok(compiled)
    }

    fn cached(&self) -> Option<Arc<Compiled>> {
        self.cache.read().ok().and_then(|c| c.clone())
    }

    /// The roles these groups get now.
    pub async fn evaluate(
        &self,
        store: &Store,
        groups: &[String],
    ) -> Result<Evaluation, StoreError> {
        Ok(self.current(store).await?.set.evaluate(groups))
    }
}

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

/// The SessionDuration for an assertion carrying `roles`: the rule's value for one role; with
/// several, the shortest of theirs, so no role gets longer than its rule allows.
pub fn session_duration(
    profile: &AwsProfile,
    eval: &Evaluation,
    roles: &[RolePair],
) -> SessionDuration {
    roles
        .iter()
        .map(|p| {
            eval.grant(p.role.as_str())
                .and_then(|g| g.duration)
                .unwrap_or(profile.session_duration)
        })
        .min_by_key(SessionDuration::secs)
        .unwrap_or(profile.session_duration)
}

/// Every role some group of the directory can grant (each group evaluated alone, so deny rules,
/// which need a second group, do not hide roles): what the IAM trust policies must cover.
pub async fn grantable_roles(
    store: &Store,
    mapper: &RoleMapper,
) -> Result<Vec<RolePair>, StoreError> {
    let compiled = mapper.current(store).await?;
    let mut out = std::collections::BTreeSet::new();
    for group in store.list_groups().await? {
        out.extend(compiled.set.evaluate(&[group.name]).pairs());
    }
    Ok(out.into_iter().collect())
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
