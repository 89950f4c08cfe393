//! The compiled rule set and its evaluation.
//!
//! A rule set is compiled once per version: every enabled rule's anchored pattern goes into one
//! [`RegexSet`], so each group is scanned once to find the rules it can trigger, and only those
//! rules run their own regex for captures. Evaluation is then:
//!
//! 1. allows, in rule order (priority, then id), each over the user's groups in their order: the
//!    first rule and group to produce a (role, provider) pair is credited with it, later producers
//!    are listed as "also";
//! 2. denies, after all allows: every granted role whose ARN matches a deny rule's glob (from a
//!    group that matched the deny rule) is removed and recorded with the rule and group that
//!    removed it.
//!
//! A template whose output is not a valid ARN for this group is skipped and recorded, never sent.

use std::collections::HashMap;

use regex::RegexSet;

use super::rule::{CompiledRule, Effect};
use crate::domain::aws::{Partition, RoleArn, RolePair, SamlProviderArn, SessionDuration};

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

    /// The grant for a role ARN.
    pub fn grant(&self, role_arn: &str) -> Option<&Grant> {
        self.granted
            .iter()
            .find(|g| g.pair.role.as_str() == role_arn)
    }
}

/// Enabled rules, compiled, in evaluation order.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// The stored generation this set was compiled from.
    pub generation: i64,
    partition: Partition,
    provider_name: String,
    rules: Vec<CompiledRule>,
    set: RegexSet,
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
    ) -> Result<RuleSet, regex::Error> {
        let set = RegexSet::new(rules.iter().map(|r| r.anchored.as_str()))?;
        Ok(RuleSet {
            generation,
            partition,
            provider_name: provider_name.to_string(),
            rules,
            set,
        })
    }

    /// A set without rules: grants nothing.
    pub fn empty(generation: i64, partition: Partition, provider_name: &str) -> RuleSet {
        RuleSet {
            generation,
            partition,
            provider_name: provider_name.to_string(),
            rules: Vec::new(),
            set: RegexSet::empty(),
        }
    }

    /// How many rules are active.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Which roles these groups get, and why.
    pub fn evaluate(&self, groups: &[String]) -> Evaluation {
        // (rule index, group index) for every match, in rule order then group order.
        let mut hits: Vec<(usize, usize)> = Vec::new();
        for (gi, group) in groups.iter().enumerate() {
            hits.extend(self.set.matches(group).iter().map(|ri| (ri, gi)));
        }
        hits.sort_unstable();

        let mut out = Evaluation::default();
        let mut index: HashMap<RolePair, usize> = HashMap::new();
        let mut denies: Vec<(usize, usize)> = Vec::new();
        for (ri, gi) in hits {
            let rule = &self.rules[ri];
            if rule.effect == Effect::Deny {
                denies.push((ri, gi));
                continue;
            }
            let group = &groups[gi];
            let cause = || Cause {
                rule: rule.name.clone(),
                group: group.clone(),
            };
            let Some(caps) = rule.regex.captures(group) else {
                continue;
            };
            let pair = match self.pair_for(rule, &caps) {
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
                        cause: cause(),
                        also: Vec::new(),
                    });
                }
            }
        }
        for (ri, gi) in denies {
            let rule = &self.rules[ri];
            let group = &groups[gi];
            let Some(caps) = rule.regex.captures(group) else {
                continue;
            };
            let glob = match rule.role.expand(&caps, self.partition) {
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
            let (removed, kept): (Vec<Grant>, Vec<Grant>) = std::mem::take(&mut out.granted)
                .into_iter()
                .partition(|g| super::template::glob_match(&glob, g.pair.role.as_str()));
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
        caps: &regex::Captures<'_>,
    ) -> Result<RolePair, (String, String)> {
        let role = rule
            .role
            .expand(caps, self.partition)
            .map_err(|e| (String::new(), e.to_string()))?;
        let role_arn = RoleArn::parse(&role).map_err(|e| (role.clone(), e.rule.clone()))?;
        let provider = match &rule.provider {
            Some(t) => t
                .expand(caps, self.partition)
                .map_err(|e| (role.clone(), e.to_string()))?,
            None => format!(
                "arn:{}:iam::{}:saml-provider/{}",
                role_arn.partition().as_str(),
                role_arn.account(),
                self.provider_name
            ),
        };
        let provider_arn =
            SamlProviderArn::parse(&provider).map_err(|e| (provider.clone(), e.rule.clone()))?;
        RolePair::new(role_arn, provider_arn).map_err(|e| (role, e.rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::rule::RuleSpec;

    fn rule(name: &str, effect: Effect, pattern: &str, role: &str) -> RuleSpec {
        RuleSpec {
            name: name.into(),
            description: String::new(),
            enabled: true,
            effect,
            pattern: pattern.into(),
            case_sensitive: false,
            role: role.into(),
            provider: None,
            session_duration: None,
            relay_state: None,
        }
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
}
