//! Which accounts a rule set can send people to, and through which SAML provider: what the IAM
//! trust policies must cover before anyone has signed in.
//!
//! Groups of LDAP, OIDC and SAML sources reach the broker only at sign-in, so the groups in the
//! database do not tell which accounts need a trust policy. The rules do: a rule whose role ARN
//! names its account reaches that account; a rule that takes the account from the group name
//! can reach any account, and the accounts named in the rules file (`accounts:`, the portal's
//! names) are the ones the operator has declared. A trust policy depends only on the account's
//! provider, never on the role name, so a role pattern (`role/*`) is enough to write it.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::aws::{RoleArn, SamlProviderArn};

use super::engine::RuleSet;
use super::rule::Effect;

/// One account's SAML provider and what reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountReach {
    pub account: String,
    pub provider: String,
    /// Role ARNs, with `*` where the name comes from the group.
    pub roles: BTreeSet<String>,
    /// Names of the rules that reach the account.
    pub rules: BTreeSet<String>,
}

/// Why a rule could not be placed in an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced {
    pub rule: String,
    pub reason: String,
}

impl RuleSet {
    /// Every account each allow rule can reach: its own account, or each of `named_accounts`
    /// when the account comes from the group name. Deny rules only take roles away.
    pub fn reach(&self, named_accounts: &[String]) -> (Vec<AccountReach>, Vec<Unplaced>) {
        let (rules, partition, provider_name) = self.parts();
        let mut by: BTreeMap<(String, String), AccountReach> = BTreeMap::new();
        let mut unplaced = Vec::new();
        for rule in rules.iter().filter(|r| r.effect == Effect::Allow) {
            let fixed;
            let accounts: &[String] = if rule.role.account_from_capture() {
                named_accounts
            } else {
                let sample = rule.role.for_account(partition, "");
                fixed = match RoleArn::parse(&sample.replace('*', "x")) {
                    Ok(arn) => vec![arn.account().to_string()],
                    Err(e) => {
                        unplaced.push(Unplaced {
                            rule: rule.name.clone(),
                            reason: e.to_string(),
                        });
                        continue;
                    }
                };
                &fixed
            };
            if accounts.is_empty() {
                unplaced.push(Unplaced {
                    rule: rule.name.clone(),
                    reason: "takes the account from the group name, and the rules file names \
                             no accounts (add them under `accounts:`)"
                        .into(),
                });
            }
            for account in accounts {
                let role = rule.role.for_account(partition, account);
                // `*` stands for any IAM name; a placeholder makes the rest checkable.
                let provider = match RoleArn::parse(&role.replace('*', "x")) {
                    Ok(arn) => match &rule.provider {
                        Some(t) => SamlProviderArn::parse(&t.for_account(partition, account))
                            .map(|p| p.as_str().to_string()),
                        None => SamlProviderArn::of_role(&arn, provider_name)
                            .map(|p| p.as_str().to_string()),
                    },
                    Err(e) => Err(e),
                };
                match provider {
                    Ok(provider) => {
                        let entry = by.entry((account.clone(), provider.clone())).or_default();
                        entry.account.clone_from(account);
                        entry.provider = provider;
                        entry.roles.insert(role);
                        entry.rules.insert(rule.name.clone());
                    }
                    Err(e) => unplaced.push(Unplaced {
                        rule: rule.name.clone(),
                        reason: format!("for account {account}: {e}"),
                    }),
                }
            }
        }
        (by.into_values().collect(), unplaced)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::aws::Partition;
    use crate::mapping::{Effect, RuleSet, RuleSpec};

    fn set(rules: Vec<RuleSpec>) -> RuleSet {
        let (set, broken) = RuleSet::build(1, Partition::Aws, "fedbroker", &rules, None);
        assert!(broken.is_empty(), "{broken:?}");
        set
    }

    fn rule(name: &str, pattern: &str, role: &str) -> RuleSpec {
        RuleSpec::new(name, Effect::Allow, pattern, role)
    }

    #[test]
    fn fixed_accounts_come_from_the_rule_and_captured_ones_from_the_named_accounts() {
        let deny = RuleSpec::new(
            "no prod",
            Effect::Deny,
            "contractors",
            "arn:aws:iam::123456789012:role/*",
        );
        let set = set(vec![
            rule(
                "convention",
                "AWS-(?P<account>[0-9]{12})-(?P<role>[A-Za-z]+)",
                "arn:${partition}:iam::${account}:role/${role}",
            ),
            rule(
                "data",
                "data-.*",
                "arn:aws:iam::210987654321:role/DataReadOnly",
            ),
            rule("admins", "ops-(.*)", "arn:aws:iam::333333333333:role/$1"),
            deny,
        ]);
        let named = vec!["123456789012".to_string(), "210987654321".to_string()];
        let (reach, unplaced) = set.reach(&named);
        assert!(unplaced.is_empty(), "{unplaced:?}");
        let summary: Vec<(&str, &str, Vec<&str>, Vec<&str>)> = reach
            .iter()
            .map(|r| {
                (
                    r.account.as_str(),
                    r.provider.as_str(),
                    r.roles.iter().map(String::as_str).collect(),
                    r.rules.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "123456789012",
                    "arn:aws:iam::123456789012:saml-provider/fedbroker",
                    vec!["arn:aws:iam::123456789012:role/*"],
                    vec!["convention"]
                ),
                (
                    "210987654321",
                    "arn:aws:iam::210987654321:saml-provider/fedbroker",
                    vec![
                        "arn:aws:iam::210987654321:role/*",
                        "arn:aws:iam::210987654321:role/DataReadOnly"
                    ],
                    vec!["convention", "data"]
                ),
                (
                    "333333333333",
                    "arn:aws:iam::333333333333:saml-provider/fedbroker",
                    vec!["arn:aws:iam::333333333333:role/*"],
                    vec!["admins"]
                ),
            ]
        );
    }

    #[test]
    fn a_captured_account_without_named_accounts_is_reported_not_dropped() {
        let set = set(vec![rule(
            "convention",
            "AWS-([0-9]{12})-([A-Za-z]+)",
            "arn:aws:iam::$1:role/$2",
        )]);
        let (reach, unplaced) = set.reach(&[]);
        assert!(reach.is_empty());
        assert_eq!(unplaced.len(), 1);
        assert!(unplaced[0].reason.contains("accounts:"), "{unplaced:?}");
    }

    #[test]
    fn a_custom_provider_is_followed() {
        let mut r = rule(
            "corp",
            "AWS-(?P<account>[0-9]{12})-Admin",
            "arn:aws:iam::${account}:role/Admin",
        );
        r.provider = Some("arn:aws:iam::${account}:saml-provider/Corp".into());
        let (reach, _) = set(vec![r]).reach(&["444444444444".to_string()]);
        assert_eq!(
            reach[0].provider,
            "arn:aws:iam::444444444444:saml-provider/Corp"
        );
        assert!(reach[0]
            .roles
            .contains("arn:aws:iam::444444444444:role/Admin"));
    }
}
