//! The compiled rule set and its evaluation.
//!
//! A rule set is compiled once per version. Candidate rules for a group are found with one
//! Aho-Corasick scan over the literal prefixes of every rule's pattern (case variants
//! spelled out by the regex parser), plus the few rules whose pattern has no literal prefix;
//! only candidates run their own regex for captures. (A `RegexSet` over 1,000 patterns was
//! tried first: 70 ms per 1,000-group user, as its lazy DFA thrashes on that many patterns.)
//! Evaluation is then:
//!
//! 1. allows, in rule order (priority, then id), each over the user's groups in their order: the
//!    first rule and group to produce a (role, provider) pair is credited with it, later producers
//!    are listed as "also";
//! 2. denies, after all allows: every granted role whose ARN matches a deny rule's glob (from a
//!    group that matched the deny rule; ignoring case unless the rule is case-sensitive, like
//!    its group pattern) is removed and recorded with the rule and group that removed it.
//!
//! A template whose output is not a valid ARN for this group is skipped and recorded, never sent.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use regex_automata::util::captures::Captures;

use super::rule::{fold_char, CompiledRule, Effect, RuleSpec};
use crate::domain::aws::{
    AssumeRequest, Partition, RoleArn, RolePair, SamlProviderArn, SessionDuration,
};

/// Who produced something: a rule and the group that matched it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub rule: String,
    pub group: String,
}

/// A role the user is offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub pair: RolePair,
    pub duration: Option<SessionDuration>,
    pub relay_state: Option<String>,
    /// The granting rule's session policies, tags and session name.
    pub session: std::sync::Arc<super::SessionShape>,
    pub cause: Cause,
    /// Other rules/groups that produced the same pair (first one wins).
    pub also: Vec<Cause>,
}

/// A role an allow rule produced and a deny rule removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub role: String,
    pub granted_by: Cause,
    pub denied_by: Cause,
}

/// A template output that was not valid for this group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub cause: Cause,
    pub output: String,
    pub reason: String,
}

/// The result for one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    pub granted: Vec<Grant>,
    pub denied: Vec<Denial>,
    pub skipped: Vec<Skipped>,
}

impl Evaluation {
    /// The granted pairs in grant order.
    pub fn pairs(&self) -> Vec<RolePair> {
        self.granted.iter().map(|g| g.pair.clone()).collect()
    }

    /// The grant for a role ARN: the first rule that granted it (its duration, landing page
    /// and session controls apply). Two rules granting one role through different providers
    /// are credited to the first one; the role stays reachable through that grant anyway, so a
    /// later rule's stricter session policy cannot narrow it: put such rules first.
    pub fn grant(&self, role_arn: &str) -> Option<&Grant> {
        self.granted
            .iter()
            .find(|g| g.pair.role.as_str() == role_arn)
    }

    /// The roles one console Response carries: the role asked for, or (multi-role chooser, no
    /// role named) every granted role whose rule sets no session controls, since one Response
    /// carries one set of attributes and no session policy. Roles with their own controls are
    /// opened one at a time from the portal; when every role has them, the first is sent alone.
    pub fn one_response(&self, roles: Vec<RolePair>) -> Vec<RolePair> {
        if roles.len() < 2 {
            return roles;
        }
        let plain = |p: &RolePair| {
            self.grant(p.role.as_str())
                .is_none_or(|g| g.session.is_empty())
        };
        if roles.iter().any(plain) {
            roles.into_iter().filter(plain).collect()
        } else {
            roles.into_iter().take(1).collect()
        }
    }

    /// The `AssumeRoleWithSAML` request for a granted role, with its rule's session policies:
    /// what the STS client sends and the dry run shows.
    pub fn assume_request(&self, pair: &RolePair, duration_secs: u32) -> AssumeRequest {
        let shape = self
            .grant(pair.role.as_str())
            .map(|g| g.session.clone())
            .unwrap_or_default();
        AssumeRequest {
            role: pair.role.clone(),
            provider: pair.provider.clone(),
            duration_secs,
            policy_arns: shape.policy_arns.clone(),
            policy: shape.policy.clone(),
        }
    }
}

/// Compiles specs, in parallel when there are many, keeping their order.
fn compile_all(
    specs: &[&RuleSpec],
    partition: Partition,
) -> Vec<Result<CompiledRule, Vec<super::FieldError>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    compile_in_chunks(specs, threads, |s| s.compile(partition))
}

/// Runs `compile` over `items` on up to `threads` threads, one result per item, in order.
///
/// A chunk whose thread panics (a bug) reports each of its items as broken rather than failing
/// every sign-in, and still one result per item, so results never pair with the wrong rule.
fn compile_in_chunks<I: Sync, T: Send>(
    items: &[I],
    threads: usize,
    compile: impl Fn(&I) -> Result<T, Vec<super::FieldError>> + Sync,
) -> Vec<Result<T, Vec<super::FieldError>>> {
    if threads < 2 || items.len() < 64 {
        return items.iter().map(&compile).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let compile = &compile;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                (
                    part.len(),
                    scope.spawn(move || part.iter().map(compile).collect::<Vec<_>>()),
                )
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(len, h)| {
                h.join().unwrap_or_else(|_| {
                    (0..len)
                        .map(|_| {
                            Err(vec![super::FieldError {
                                field: "match",
                                message: "could not be compiled (internal error)".into(),
                            }])
                        })
                        .collect()
                })
            })
            .collect()
    })
}

/// Enabled rules, compiled, in evaluation order.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// The stored generation this set was compiled from.
    pub generation: i64,
    partition: Partition,
    provider_name: String,
    rules: Vec<CompiledRule>,
    prefilter: Prefilter,
}

/// Finds the rules a group may match.
#[derive(Debug, Clone)]
struct Prefilter {
    /// Every literal prefix; pattern id → index into `owner`.
    automaton: Option<AhoCorasick>,
    owner: Vec<usize>,
    /// Rules without a literal prefix: tried on every group.
    always: Vec<usize>,
}

impl Prefilter {
    fn new(rules: &[CompiledRule]) -> Result<Prefilter, aho_corasick::BuildError> {
        let mut literals: Vec<&[u8]> = Vec::new();
        let mut owner = Vec::new();
        let mut always = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            match &rule.prefixes {
                Some(prefixes) => {
                    for p in prefixes {
                        literals.push(p);
                        owner.push(i);
                    }
                }
                None => always.push(i),
            }
        }
        let automaton = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&literals)?,
            )
        };
        Ok(Prefilter {
            automaton,
            owner,
            always,
        })
    }

    /// Appends the candidate rule indexes for `group` (possibly with repeats).
    fn candidates(&self, group: &str, folded: &mut String, out: &mut Vec<usize>) {
        out.extend_from_slice(&self.always);
        if let Some(ac) = &self.automaton {
            folded.clear();
            folded.extend(group.chars().map(fold_char));
            // aho-corasick has no anchored overlapping search: scan the (short) name and keep
            // the matches that start it.
            for m in ac.find_overlapping_iter(folded.as_str()) {
                if m.start() == 0 {
                    out.push(self.owner[m.pattern().as_usize()]);
                }
            }
        }
    }
}

/// Whatever failed to compile (a stored rule the running version no longer accepts). The
/// rule is left out and reported; the others keep working.
#[derive(Debug, Clone)]
pub struct Broken {
    pub rule: String,
    pub error: String,
}

impl RuleSet {
    /// Compiles rules already in evaluation order (disabled ones must be left out by the caller).
    pub fn new(
        generation: i64,
        partition: Partition,
        provider_name: &str,
        rules: Vec<CompiledRule>,
    ) -> Result<RuleSet, aho_corasick::BuildError> {
        let prefilter = Prefilter::new(&rules)?;
        Ok(RuleSet {
            generation,
            partition,
            provider_name: provider_name.to_string(),
            rules,
            prefilter,
        })
    }

    /// Compiles `specs` (in evaluation order; disabled ones are left out), reusing the compiled
    /// form of every rule `previous` already had unchanged: an edit of one rule recompiles
    /// one rule. A rule that does not compile (a stored rule this version no longer accepts) is
    /// left out and reported, so the others keep working.
    pub fn build(
        generation: i64,
        partition: Partition,
        provider_name: &str,
        specs: &[RuleSpec],
        previous: Option<&RuleSet>,
    ) -> (RuleSet, Vec<Broken>) {
        let reusable: HashMap<&RuleSpec, &CompiledRule> = previous
            .map(|p| p.rules.iter().map(|r| (&r.source, r)).collect())
            .unwrap_or_default();
        let enabled: Vec<&RuleSpec> = specs.iter().filter(|s| s.enabled).collect();
        // Rules not compiled before are compiled on every core: each is independent, and a
        // cold start of 1,000 rules is then well inside the 50 ms an admin's save may take.
        let fresh: Vec<&RuleSpec> = enabled
            .iter()
            .copied()
            .filter(|s| !reusable.contains_key(*s))
            .collect();
        let compiled = compile_all(&fresh, partition);
        let mut by_spec: HashMap<&RuleSpec, Result<CompiledRule, Vec<super::FieldError>>> =
            fresh.into_iter().zip(compiled).collect();
        let mut broken = Vec::new();
        let mut rules = Vec::with_capacity(enabled.len());
        for spec in enabled {
            if let Some(done) = reusable.get(spec) {
                rules.push((*done).clone());
                continue;
            }
            match by_spec.remove(spec) {
                Some(Ok(c)) => rules.push(c),
                Some(Err(errors)) => broken.push(Broken {
                    rule: spec.name.clone(),
                    error: errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                }),
                // The same spec twice (the first took its compiled form), or a chunk lost to a
                // panic: compile it here.
                None => {
                    if let Ok(c) = spec.compile(partition) {
                        rules.push(c);
                    }
                }
            }
        }
        match RuleSet::new(generation, partition, provider_name, rules) {
            Ok(set) => (set, broken),
            Err(e) => {
                // Each pattern compiled alone, so only the combined prefilter can fail here.
                broken.push(Broken {
                    rule: "(all rules)".into(),
                    error: format!("the rule set is too large to compile together: {e}"),
                });
                (RuleSet::empty(generation, partition, provider_name), broken)
            }
        }
    }

    /// A set without rules: grants nothing.
    pub fn empty(generation: i64, partition: Partition, provider_name: &str) -> RuleSet {
        RuleSet {
            generation,
            partition,
            provider_name: provider_name.to_string(),
            rules: Vec::new(),
            prefilter: Prefilter {
                automaton: None,
                owner: Vec::new(),
                always: Vec::new(),
            },
        }
    }

    /// The compiled rules in order, and the partition and provider name they were compiled for.
    pub(super) fn parts(&self) -> (&[CompiledRule], Partition, &str) {
        (&self.rules, self.partition, &self.provider_name)
    }

    /// How many rules are active.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether some rule gives its sessions tags (their roles' trust policies then need
    /// `sts:TagSession`, even when the settings send none).
    pub fn sends_tags(&self) -> bool {
        self.rules.iter().any(|r| !r.session.tags.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Which roles these groups get, and why.
    pub fn evaluate(&self, groups: &[String]) -> Evaluation {
        self.evaluate_with(groups, true)
    }

    /// Every rule tried on every group: what the prefilter must never change (tests).
    #[cfg(test)]
    fn evaluate_exhaustive(&self, groups: &[String]) -> Evaluation {
        self.evaluate_with(groups, false)
    }

    fn evaluate_with(&self, groups: &[String], prefiltered: bool) -> Evaluation {
        // (rule index, group index) for every match, in rule order then group order.
        // Candidates are confirmed with the rule's regex, keeping the captures.
        let mut hits: Vec<(usize, usize, Captures)> = Vec::new();
        let mut candidates = Vec::new();
        let mut folded = String::new();
        for (gi, group) in groups.iter().enumerate() {
            candidates.clear();
            if prefiltered {
                self.prefilter
                    .candidates(group, &mut folded, &mut candidates);
            } else {
                candidates.extend(0..self.rules.len());
            }
            candidates.sort_unstable();
            candidates.dedup();
            for &ri in &candidates {
                let regex = &self.rules[ri].regex;
                let mut caps = regex.create_captures();
                regex.captures(group.as_str(), &mut caps);
                if caps.is_match() {
                    hits.push((ri, gi, caps));
                }
            }
        }
        hits.sort_unstable_by_key(|(ri, gi, _)| (*ri, *gi));

        let mut out = Evaluation::default();
        let mut index: HashMap<RolePair, usize> = HashMap::new();
        let mut denies: Vec<(usize, usize, Captures)> = Vec::new();
        for (ri, gi, caps) in hits {
            let rule = &self.rules[ri];
            if rule.effect == Effect::Deny {
                denies.push((ri, gi, caps));
                continue;
            }
            let group = &groups[gi];
            let cause = || Cause {
                rule: rule.name.clone(),
                group: group.clone(),
            };
            let pair = match self.pair_for(rule, group, &caps) {
                Ok(p) => p,
                Err((output, reason)) => {
                    out.skipped.push(Skipped {
                        cause: cause(),
                        output,
                        reason,
                    });
                    continue;
                }
            };
            match index.get(&pair) {
                Some(&at) => out.granted[at].also.push(cause()),
                None => {
                    index.insert(pair.clone(), out.granted.len());
                    out.granted.push(Grant {
                        pair,
                        duration: rule.duration,
                        relay_state: rule.relay_state.clone(),
                        session: rule.session.clone(),
                        cause: cause(),
                        also: Vec::new(),
                    });
                }
            }
        }
        for (ri, gi, caps) in denies {
            let rule = &self.rules[ri];
            let group = &groups[gi];
            let glob = match rule.role.expand(group, &caps, self.partition) {
                Ok(g) => g,
                Err(e) => {
                    out.skipped.push(Skipped {
                        cause: Cause {
                            rule: rule.name.clone(),
                            group: group.clone(),
                        },
                        output: String::new(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let (removed, kept): (Vec<Grant>, Vec<Grant>) =
                std::mem::take(&mut out.granted).into_iter().partition(|g| {
                    super::template::glob_match(
                        &glob,
                        g.pair.role.as_str(),
                        rule.source.case_sensitive,
                    )
                });
            out.granted = kept;
            out.denied.extend(removed.into_iter().map(|g| Denial {
                role: g.pair.role.to_string(),
                granted_by: g.cause,
                denied_by: Cause {
                    rule: rule.name.clone(),
                    group: group.clone(),
                },
            }));
        }
        out
    }

    fn pair_for(
        &self,
        rule: &CompiledRule,
        group: &str,
        caps: &Captures,
    ) -> Result<RolePair, (String, String)> {
        let role = rule
            .role
            .expand(group, caps, self.partition)
            .map_err(|e| (String::new(), e.to_string()))?;
        let role_arn = RoleArn::parse(&role).map_err(|e| (role.clone(), e.rule.clone()))?;
        let provider_arn = match &rule.provider {
            Some(t) => {
                let provider = t
                    .expand(group, caps, self.partition)
                    .map_err(|e| (role.clone(), e.to_string()))?;
                SamlProviderArn::parse(&provider).map_err(|e| (provider.clone(), e.rule.clone()))?
            }
            None => SamlProviderArn::of_role(&role_arn, &self.provider_name)
                .map_err(|e| (role.clone(), e.rule.clone()))?,
        };
        RolePair::new(role_arn, provider_arn).map_err(|e| (role, e.rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::rule::RuleSpec;

    fn rule(name: &str, effect: Effect, pattern: &str, role: &str) -> RuleSpec {
        RuleSpec::new(name, effect, pattern, role)
    }

    fn set(specs: &[RuleSpec]) -> RuleSet {
        let compiled = specs
            .iter()
            .filter(|s| s.enabled)
            .map(|s| s.compile(Partition::Aws).expect("valid rule"))
            .collect();
        RuleSet::new(1, Partition::Aws, "fedbroker", compiled).expect("compiles")
    }

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    fn adfs() -> RuleSpec {
        rule(
            "adfs",
            Effect::Allow,
            r"AWS-(?P<account>\d{12})-(?P<role>[\w+=,.@-]+)",
            "arn:${partition}:iam::${account}:role/${role}",
        )
    }

    fn granted(e: &Evaluation) -> Vec<(&str, &str, &str)> {
        e.granted
            .iter()
            .map(|g| {
                (
                    g.pair.role.as_str(),
                    g.cause.rule.as_str(),
                    g.cause.group.as_str(),
                )
            })
            .collect()
    }

    /// Each case: rules, groups, and the (role, rule, group) triples expected, in order.
    #[test]
    fn one_response_leaves_out_roles_with_their_own_session_controls() {
        let mut shaped = adfs();
        shaped.name = "shaped".into();
        shaped.pattern = "shaped".into();
        shaped.role = "arn:aws:iam::123456789012:role/Shaped".into();
        shaped.session.tags = [("Team".to_string(), "x".to_string())].into();
        let set = set(&[adfs(), shaped]);
        let e = set.evaluate(&["AWS-123456789012-Admin".into(), "shaped".into()]);
        assert_eq!(e.granted.len(), 2);
        let bundle = e.one_response(e.pairs());
        assert_eq!(bundle.len(), 1);
        assert_eq!(
            bundle[0].role.as_str(),
            "arn:aws:iam::123456789012:role/Admin"
        );
        let only_shaped = set.evaluate(&["shaped".into()]);
        assert_eq!(only_shaped.one_response(only_shaped.pairs()).len(), 1);
        assert!(set.sends_tags());
        let request = e.assume_request(&e.granted[0].pair, 3600);
        assert!(request.policy_arns.is_empty() && request.policy.is_none());
    }

    #[test]
    fn allow_deny_priority_case_and_duplicates() {
        let okta = rule(
            "okta",
            Effect::Allow,
            r"aws#(\d{12})#(\w+)",
            "arn:aws:iam::$1:role/$2",
        );
        let mut deny_prod = rule(
            "no-prod-for-contractors",
            Effect::Deny,
            "contractors",
            "arn:aws:iam::111111111111:role/*",
        );
        let mut disabled = okta.clone();
        disabled.name = "disabled".into();
        disabled.enabled = false;
        let mut sensitive = rule(
            "sensitive",
            Effect::Allow,
            "Exact-(\\w+)",
            "arn:aws:iam::222222222222:role/$1",
        );
        sensitive.case_sensitive = true;
        let no_landing = rule(
            "no-landing",
            Effect::Deny,
            "contractors",
            "arn:aws:iam::*:role/*landing*",
        );
        let mut no_landing_exact = no_landing.clone();
        no_landing_exact.case_sensitive = true;
        type Case<'a> = (
            &'a str,
            Vec<RuleSpec>,
            Vec<&'a str>,
            Vec<(&'a str, &'a str, &'a str)>,
        );
        let cases: Vec<Case> = vec![
            (
                "allow by two conventions",
                vec![adfs(), okta.clone()],
                vec!["AWS-111111111111-Admin", "aws#222222222222#Dev", "staff"],
                vec![
                    (
                        "arn:aws:iam::111111111111:role/Admin",
                        "adfs",
                        "AWS-111111111111-Admin",
                    ),
                    (
                        "arn:aws:iam::222222222222:role/Dev",
                        "okta",
                        "aws#222222222222#Dev",
                    ),
                ],
            ),
            (
                "deny applies after allows, whatever its priority",
                vec![deny_prod.clone(), adfs()],
                vec![
                    "AWS-111111111111-Admin",
                    "AWS-333333333333-Admin",
                    "Contractors",
                ],
                vec![(
                    "arn:aws:iam::333333333333:role/Admin",
                    "adfs",
                    "AWS-333333333333-Admin",
                )],
            ),
            (
                "deny needs its group",
                vec![adfs(), deny_prod.clone()],
                vec!["AWS-111111111111-Admin"],
                vec![(
                    "arn:aws:iam::111111111111:role/Admin",
                    "adfs",
                    "AWS-111111111111-Admin",
                )],
            ),
            (
                "disabled rules do nothing",
                vec![disabled],
                vec!["aws#222222222222#Dev"],
                vec![],
            ),
            (
                "case-insensitive by default, sensitive on request",
                vec![adfs(), sensitive],
                vec!["aws-111111111111-Admin", "exact-Ops", "Exact-Dev"],
                vec![
                    (
                        "arn:aws:iam::111111111111:role/Admin",
                        "adfs",
                        "aws-111111111111-Admin",
                    ),
                    (
                        "arn:aws:iam::222222222222:role/Dev",
                        "sensitive",
                        "Exact-Dev",
                    ),
                ],
            ),
            (
                "deny patterns ignore case like group patterns",
                vec![adfs(), no_landing.clone()],
                vec![
                    "AWS-111111111111-Landing",
                    "AWS-111111111111-Ops",
                    "contractors",
                ],
                vec![(
                    "arn:aws:iam::111111111111:role/Ops",
                    "adfs",
                    "AWS-111111111111-Ops",
                )],
            ),
            (
                "a case-sensitive deny rule matches case exactly",
                vec![adfs(), no_landing_exact],
                vec!["AWS-111111111111-Landing", "contractors"],
                vec![(
                    "arn:aws:iam::111111111111:role/Landing",
                    "adfs",
                    "AWS-111111111111-Landing",
                )],
            ),
            (
                "duplicates collapse to the first rule by priority",
                vec![okta.clone(), adfs()],
                vec!["AWS-222222222222-Dev", "aws#222222222222#Dev"],
                vec![(
                    "arn:aws:iam::222222222222:role/Dev",
                    "okta",
                    "aws#222222222222#Dev",
                )],
            ),
            (
                "patterns match whole group names only",
                vec![adfs()],
                vec!["NOT-AWS-111111111111-Admin", "AWS-111111111111-Admin-old!"],
                vec![],
            ),
        ];
        for (what, rules, gs, expected) in cases {
            let e = set(&rules).evaluate(&groups(&gs));
            assert_eq!(granted(&e), expected, "{what}");
        }
        deny_prod.role = "arn:aws:iam::*:role/*".into();
        let e = set(&[adfs(), deny_prod]).evaluate(&groups(&["AWS-111111111111-A", "contractors"]));
        assert!(e.granted.is_empty());
        assert_eq!(e.denied.len(), 1);
        assert_eq!(e.denied[0].denied_by.rule, "no-prod-for-contractors");
        assert_eq!(e.denied[0].granted_by.group, "AWS-111111111111-A");
    }

    #[test]
    fn duplicates_list_every_producer() {
        let mut second = adfs();
        second.name = "second".into();
        let e = set(&[adfs(), second]).evaluate(&groups(&[
            "AWS-111111111111-Admin",
            "aws-111111111111-Admin",
        ]));
        assert_eq!(e.granted.len(), 1);
        let also: Vec<(&str, &str)> = e.granted[0]
            .also
            .iter()
            .map(|c| (c.rule.as_str(), c.group.as_str()))
            .collect();
        assert_eq!(
            also,
            vec![
                ("adfs", "aws-111111111111-Admin"),
                ("second", "AWS-111111111111-Admin"),
                ("second", "aws-111111111111-Admin"),
            ]
        );
    }

    #[test]
    fn bad_outputs_are_skipped_and_recorded() {
        let loose = rule(
            "loose",
            Effect::Allow,
            r"team-(.+)",
            "arn:aws:iam::123456789012:role/$1",
        );
        let e = set(&[loose]).evaluate(&groups(&[
            "team-a/b",
            "team-ok",
            &format!("team-{}", "x".repeat(70)),
        ]));
        assert_eq!(
            granted(&e),
            vec![("arn:aws:iam::123456789012:role/ok", "loose", "team-ok")]
        );
        assert_eq!(e.skipped.len(), 2);
        assert!(e.skipped[0]
            .reason
            .contains("characters IAM names do not allow"));
        assert!(
            e.skipped[1].reason.contains("IAM role ARN"),
            "{}",
            e.skipped[1].reason
        );
    }

    #[test]
    fn rule_settings_travel_with_the_grant() {
        let mut r = adfs();
        r.session_duration = Some(7200);
        r.relay_state = Some("https://console.aws.amazon.com/s3/home".into());
        r.provider = Some("arn:aws:iam::${account}:saml-provider/Corp".into());
        let e = set(&[r]).evaluate(&groups(&["AWS-111111111111-Admin"]));
        let g = &e.granted[0];
        assert_eq!(g.duration.map(|d| d.secs()), Some(7200));
        assert_eq!(
            g.relay_state.as_deref(),
            Some("https://console.aws.amazon.com/s3/home")
        );
        assert_eq!(
            g.pair.provider.as_str(),
            "arn:aws:iam::111111111111:saml-provider/Corp"
        );
    }

    #[test]
    fn rebuilding_reuses_unchanged_rules_and_reports_broken_ones() {
        let specs = vec![
            adfs(),
            rule(
                "team",
                Effect::Allow,
                "team-(\\w+)",
                "arn:aws:iam::222222222222:role/$1",
            ),
        ];
        let (first, broken) = RuleSet::build(1, Partition::Aws, "fedbroker", &specs, None);
        assert!(broken.is_empty());
        let mut edited = specs.clone();
        edited[1].role = "arn:aws:iam::333333333333:role/$1".into();
        edited.push(rule("broken", Effect::Allow, "(", "x"));
        let (second, broken) =
            RuleSet::build(2, Partition::Aws, "fedbroker", &edited, Some(&first));
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].rule, "broken");
        let (cold, _) = RuleSet::build(2, Partition::Aws, "fedbroker", &edited, None);
        let gs = groups(&["AWS-111111111111-Admin", "team-ops"]);
        assert_eq!(second.evaluate(&gs), cold.evaluate(&gs));
        assert_eq!(
            granted(&second.evaluate(&gs))[1].0,
            "arn:aws:iam::333333333333:role/ops",
            "the edited rule was recompiled"
        );
    }

    #[test]
    fn many_rules_compile_in_parallel_in_order() {
        let mut specs: Vec<RuleSpec> = (0..150)
            .map(|i| {
                rule(
                    &format!("r{i}"),
                    Effect::Allow,
                    &format!("g{i}"),
                    &format!("arn:aws:iam::{:012}:role/R", i + 1),
                )
            })
            .collect();
        specs[70].pattern = "(".into();
        specs.push(specs[3].clone());
        let (set, broken) = RuleSet::build(1, Partition::Aws, "fedbroker", &specs, None);
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].rule, "r70");
        assert_eq!(set.len(), 150, "149 distinct good rules and the duplicate");
        let names: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names[..3], ["r0", "r1", "r2"]);
        assert_eq!(names[70], "r71", "order kept around the broken rule");
        let e = set.evaluate(&groups(&["g149", "g5"]));
        assert_eq!(e.granted.len(), 2);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn one_rule(pattern: &str, role: &str) -> RuleSet {
            set(&[rule("r", Effect::Allow, pattern, role)])
        }

        proptest! {
            /// Whatever a group holds, its capture either lands in the role name verbatim (and
            /// is made of IAM name characters only) or the group is skipped with a reason; it
            /// never adds an ARN field or a path segment.
            #[test]
            fn captures_never_break_out_of_the_arn(tail in "\\PC{0,70}") {
                let set = one_rule("team-(.*)", "arn:aws:iam::123456789012:role/team/$1");
                let group = format!("team-{tail}");
                let e = set.evaluate(&[group]);
                match (e.granted.as_slice(), e.skipped.as_slice()) {
                    ([g], []) => {
                        let arn = g.pair.role.as_str();
                        prop_assert_eq!(arn, format!("arn:aws:iam::123456789012:role/team/{tail}"));
                        prop_assert!(tail.chars().all(crate::mapping::template::is_iam_name_char));
                        prop_assert_eq!(arn.matches(':').count(), 5);
                        prop_assert_eq!(arn.matches('/').count(), 2);
                        prop_assert!(RoleArn::parse(arn).is_ok());
                    }
                    ([], [s]) => {
                        prop_assert!(!s.reason.is_empty());
                        let fits = !tail.is_empty()
                            && tail.len() <= 64
                            && tail.chars().all(crate::mapping::template::is_iam_name_char);
                        prop_assert!(!fits, "a valid name was skipped: {}", s.reason);
                    }
                    other => prop_assert!(false, "unexpected outcome {:?}", other),
                }
            }

            /// Any template text is either refused at save time with a message per field, or
            /// every role it produces is a valid role ARN and everything else is a recorded skip.
            #[test]
            fn any_template_is_valid_or_refused_with_a_reason(
                template in "(arn:aws:iam::|\\$|\\{|\\}|[0-9]{12}|:role/|/|a|partition|account|[$:*@,])*",
                groups in proptest::collection::vec("[0-9]{12}-\\PC{0,12}", 0..4),
            ) {
                let spec = rule("t", Effect::Allow, "(?P<account>[0-9]{12})-(.*)", &template);
                match spec.compile(Partition::Aws) {
                    Err(errors) => {
                        prop_assert!(!errors.is_empty());
                        prop_assert!(errors.iter().all(|e| !e.message.is_empty()));
                    }
                    Ok(compiled) => {
                        let set = RuleSet::new(1, Partition::Aws, "fedbroker", vec![compiled]).expect("set");
                        let e = set.evaluate(&groups);
                        for g in &e.granted {
                            prop_assert!(RoleArn::parse(g.pair.role.as_str()).is_ok());
                        }
                        prop_assert!(e.skipped.iter().all(|s| !s.reason.is_empty()));
                        prop_assert!(e.granted.len() + e.skipped.len() <= groups.len());
                    }
                }
            }

            /// The prefix prefilter (with its case folding, including the long s and Kelvin
            /// sign that fold onto ASCII letters) selects every rule the regexes would match.
            #[test]
            fn the_prefilter_never_changes_the_result(
                groups in proptest::collection::vec(prop_oneof![
                    "[AaWwSs\\x{17F}]{3}-[0-9]{12}-[A-Za-z]{1,5}",
                    "[aA][wW][sS]#[0-9]{12}#[a-z]{1,4}",
                    "[kK\\x{212A}]a[sS\\x{17F}]e-[a-z]{1,4}",
                    "[eE]xact-[sS\\x{17F}][a-z]{0,3}",
                    "[a-z]{1,6}-admins",
                    "([sS\\x{17F}][kK\\x{212A}]){10}[a-z]{0,2}-[a-z]{1,3}",
                    "\\PC{0,10}",
                ], 0..12),
            ) {
                let mut exact = rule("exact", Effect::Allow, "Exact-S(\\w*)", "arn:aws:iam::222222222222:role/S$1");
                exact.case_sensitive = true;
                let rules = vec![
                    adfs(),
                    rule("okta", Effect::Allow, r"aws#(\d{12})#(\w+)", "arn:aws:iam::$1:role/$2"),
                    rule("kase", Effect::Allow, "kase-(\\w+)", "arn:aws:iam::333333333333:role/$1"),
                    exact,
                    rule("admins", Effect::Allow, ".*-admins", "arn:aws:iam::444444444444:role/Admin"),
                    // Long enough that the extractor stops spelling out case variants.
                    rule("long", Effect::Allow, "sksksksksksksksksksk[a-z]*-([a-z]+)", "arn:aws:iam::555555555555:role/$1"),
                    rule("no-kase", Effect::Deny, "KASE-[a-z]{2}", "arn:aws:iam::333333333333:role/*"),
                ];
                let set = set(&rules);
                prop_assert_eq!(set.evaluate(&groups), set.evaluate_exhaustive(&groups));
            }
        }
    }

    #[test]
    fn a_panicking_chunk_reports_each_of_its_rules_and_keeps_the_rest_in_place() {
        let items: Vec<usize> = (0..200).collect();
        let out = compile_in_chunks(&items, 4, |&i| {
            assert!(i != 60, "a bug while compiling rule 60");
            Ok(i)
        });
        assert_eq!(out.len(), items.len());
        // Rules 50..100 shared the panicking chunk: each is reported broken, in its place.
        for (i, result) in out.iter().enumerate() {
            match result {
                Ok(v) => assert_eq!(*v, i),
                Err(e) => {
                    assert!((50..100).contains(&i), "rule {i} wrongly broken");
                    assert!(e[0].message.contains("internal error"));
                }
            }
        }
        assert!(out[100..].iter().all(Result::is_ok));
    }
}
