//! Rules as code: the whole mapping (rules in order, account aliases) as one YAML document.
//!
//! Schema (`version: 1`), documented with an example in `config/rules.example.yaml`:
//! - `rules`: a list; the order is the priority (first = evaluated first). Each rule has `name`
//!   (unique), `match` (regex over one group name, whole-name match), `role` (ARN template, or a
//!   glob for deny rules) and optionally `description`, `enabled` (default true), `effect`
//!   (`allow` default, or `deny`), `case_sensitive` (default false), `provider`,
//!   `session_duration`, `relay_state`.
//! - `accounts`: a list of `id`, `name`, optional `environment` and `colour`.
//!
//! Import replaces everything with the document, in one transaction; export writes fields only
//! when they differ from their defaults, so export → import → export is byte-for-byte stable.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::alias::AccountAlias;
use super::rule::RuleSpec;
use crate::domain::aws::Partition;

/// The current schema version.
pub const VERSION: u32 = 1;

/// The whole mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesDocument {
    pub version: u32,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    #[serde(default)]
    pub accounts: Vec<AccountAlias>,
}

/// Why a document cannot be imported. Every problem is listed with where it is.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("not a valid rules document: {0}")]
    Syntax(String),
    #[error("the document has problems, nothing was changed:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

impl RulesDocument {
    /// Parses and validates YAML; nothing is accepted unless all of it is valid.
    pub fn from_yaml(text: &str, partition: Partition) -> Result<RulesDocument, DocumentError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let doc: RulesDocument = serde_path_to_error::deserialize(de)
            .map_err(|e| DocumentError::Syntax(format!("at `{}`: {}", e.path(), e.inner())))?;
        doc.validate(partition)?;
        Ok(doc)
    }

    /// The YAML text.
    pub fn to_yaml(&self) -> String {
        let body = serde_yaml::to_string(self).unwrap_or_default();
        format!(
            "# fedbroker mapping rules. Order is priority; see config/rules.example.yaml for the schema.\n{body}"
        )
    }

    /// Checks the version, every rule and alias, and uniqueness of names and ids.
    pub fn validate(&self, partition: Partition) -> Result<(), DocumentError> {
        let mut problems = Vec::new();
        if self.version != VERSION {
            problems.push(format!(
                "version: {} is not supported; this fedbroker reads version {VERSION}",
                self.version
            ));
        }
        let mut names = HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if let Err(errors) = rule.compile(partition) {
                for e in errors {
                    problems.push(format!("rules[{i}] ({}): {e}", rule.name));
                }
            }
            if !names.insert(rule.name.trim().to_string()) {
                problems.push(format!(
                    "rules[{i}] ({}): name is used by an earlier rule; names must be unique",
                    rule.name
                ));
            }
        }
        let mut ids = HashSet::new();
        for (i, account) in self.accounts.iter().enumerate() {
            if let Err(errors) = account.validate() {
                for e in errors {
                    problems.push(format!("accounts[{i}] ({}): {e}", account.id));
                }
            }
            if !ids.insert(account.id.clone()) {
                problems.push(format!(
                    "accounts[{i}] ({}): listed twice; keep one entry per account",
                    account.id
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(DocumentError::Invalid(problems))
        }
    }

    /// What importing `new` over `self` would change, one line each; empty when nothing would.
    pub fn diff(&self, new: &RulesDocument) -> Vec<String> {
        let mut out = Vec::new();
        let old_rules: HashMap<&str, &RuleSpec> =
            self.rules.iter().map(|r| (r.name.as_str(), r)).collect();
        let new_rules: HashMap<&str, &RuleSpec> =
            new.rules.iter().map(|r| (r.name.as_str(), r)).collect();
        for r in &self.rules {
            if !new_rules.contains_key(r.name.as_str()) {
                out.push(format!("- rule `{}`", r.name));
            }
        }
        for r in &new.rules {
            match old_rules.get(r.name.as_str()) {
                None => out.push(format!(
                    "+ rule `{}`: {} `{}` → `{}`",
                    r.name,
                    r.effect.as_str(),
                    r.pattern,
                    r.role
                )),
                Some(old) if *old != r => out.push(format!(
                    "~ rule `{}`: {}",
                    r.name,
                    changed_fields(old, r).join(", ")
                )),
                Some(_) => {}
            }
        }
        let order = |rules: &[RuleSpec], other: &HashMap<&str, &RuleSpec>| -> Vec<String> {
            rules
                .iter()
                .filter(|r| other.contains_key(r.name.as_str()))
                .map(|r| r.name.clone())
                .collect()
        };
        let (before, after) = (
            order(&self.rules, &new_rules),
            order(&new.rules, &old_rules),
        );
        if before != after {
            out.push(format!(
                "~ order: {} → {}",
                before.join(", "),
                after.join(", ")
            ));
        }
        let old_accounts: HashMap<&str, &AccountAlias> =
            self.accounts.iter().map(|a| (a.id.as_str(), a)).collect();
        let new_accounts: HashMap<&str, &AccountAlias> =
            new.accounts.iter().map(|a| (a.id.as_str(), a)).collect();
        for a in &self.accounts {
            if !new_accounts.contains_key(a.id.as_str()) {
                out.push(format!("- account {} ({})", a.id, a.name));
            }
        }
        for a in &new.accounts {
            match old_accounts.get(a.id.as_str()) {
                None => out.push(format!("+ account {} ({})", a.id, a.name)),
                Some(old) if *old != a => out.push(format!(
                    "~ account {}: {} [{}] → {} [{}]",
                    a.id, old.name, old.environment, a.name, a.environment
                )),
                Some(_) => {}
            }
        }
        out
    }
}

fn changed_fields(old: &RuleSpec, new: &RuleSpec) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name} `{a}` → `{b}`"));
        }
    };
    field(
        "description",
        old.description.clone(),
        new.description.clone(),
    );
    field("enabled", old.enabled.to_string(), new.enabled.to_string());
    field(
        "effect",
        old.effect.as_str().into(),
        new.effect.as_str().into(),
    );
    field("match", old.pattern.clone(), new.pattern.clone());
    field(
        "case_sensitive",
        old.case_sensitive.to_string(),
        new.case_sensitive.to_string(),
    );
    field("role", old.role.clone(), new.role.clone());
    field(
        "provider",
        old.provider.clone().unwrap_or_default(),
        new.provider.clone().unwrap_or_default(),
    );
    let secs = |d: Option<i64>| d.map(|d| d.to_string()).unwrap_or_default();
    field(
        "session_duration",
        secs(old.session_duration),
        secs(new.session_duration),
    );
    field(
        "relay_state",
        old.relay_state.clone().unwrap_or_default(),
        new.relay_state.clone().unwrap_or_default(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../config/rules.example.yaml");

    #[test]
    fn the_shipped_example_is_valid_and_round_trips() {
        let doc = RulesDocument::from_yaml(EXAMPLE, Partition::Aws).expect("example is valid");
        assert!(doc.rules.len() >= 3);
        let again = RulesDocument::from_yaml(&doc.to_yaml(), Partition::Aws).expect("re-reads");
        assert_eq!(doc, again);
        assert_eq!(doc.to_yaml(), again.to_yaml());
    }

    #[test]
    fn every_problem_is_listed_with_its_place() {
        let text = "version: 1\nrules:\n  - name: a\n    match: '('\n    role: x\n  - name: a\n    match: ok\n    role: arn:aws:iam::123456789012:role/R\naccounts:\n  - id: '1'\n    name: n\n";
        let Err(DocumentError::Invalid(problems)) = RulesDocument::from_yaml(text, Partition::Aws)
        else {
            panic!("must be refused");
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("rules[0] (a): match:"));
        assert!(problems[1].starts_with("rules[1] (a): name is used"));
        assert!(problems[2].starts_with("accounts[0] (1): id:"));
    }

    #[test]
    fn unknown_fields_are_syntax_errors_with_a_path() {
        let text = "version: 1\nrules:\n  - name: a\n    match: ok\n    role: arn:aws:iam::123456789012:role/R\n    rolle: typo\n";
        let err = RulesDocument::from_yaml(text, Partition::Aws).expect_err("typo");
        assert!(err.to_string().contains("rules[0]"), "{err}");
        assert!(err.to_string().contains("rolle"), "{err}");
    }

    #[test]
    fn diff_lists_additions_removals_changes_and_order() {
        let doc = RulesDocument::from_yaml(EXAMPLE, Partition::Aws).expect("valid");
        let mut new = doc.clone();
        let first = new.rules.remove(0);
        new.rules[0].role = "arn:aws:iam::123456789012:role/Changed".into();
        new.rules.push(first);
        let mut added = new.rules[0].clone();
        added.name = "brand new".into();
        new.rules.push(added);
        new.accounts.clear();
        let diff = doc.diff(&new);
        assert!(
            diff.iter().any(|l| l.starts_with("+ rule `brand new`")),
            "{diff:?}"
        );
        assert!(
            diff.iter()
                .any(|l| l.starts_with("~ rule") && l.contains("role `")),
            "{diff:?}"
        );
        assert!(diff.iter().any(|l| l.starts_with("~ order:")), "{diff:?}");
        assert!(diff.iter().any(|l| l.starts_with("- account")), "{diff:?}");
        assert!(doc.diff(&doc).is_empty());
    }
}
