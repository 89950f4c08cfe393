//! The per-instance cache of the mapping rules: compiled once per rule-set generation, so a
//! change made through any instance is seen at the next request without recompiling on each.

use std::sync::{Arc, RwLock};

use crate::domain::aws::{RolePair, SessionDuration};
use crate::mapping::engine::Broken;
use crate::mapping::{Evaluation, RuleSet};
use crate::saml::profile::AwsProfile;
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
