//! Rules as code: the whole mapping (rules in order, account aliases) as one YAML document.
//!
//! Schema (`version: 1`), documented with an example in `config/rules.example.yaml`:
//! - `rules`: a list; the order is the priority (first = evaluated first). Each rule has `name`
//!   (unique), `match` (regex over one group name, whole-name match), `role` (ARN template, or a
//!   glob for deny rules) and optionally `description`, `enabled` (default true), `effect`
//!   (`allow` default, or `deny`), `case_sensitive` (default false), `provider`,
//!   `session_duration`, `relay_state`, and `session` (`policy_arns`, `policy`, `tags` as a map of
//!   key to value template, `transitive_tag_keys`, `role_session_name`: see `mapping::session`).
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
    /// Parses and validates YAML; nothing is accepted unless all of it is valid. Every problem
    /// is reported at once, each with its line (block-style YAML, as exported) and its place.
    pub fn from_yaml(text: &str, partition: Partition) -> Result<RulesDocument, DocumentError> {
        let raw: RawDocument =
            serde_yaml::from_str(text).map_err(|e| DocumentError::Syntax(e.to_string()))?;
        let lines = Lines::new(text);
        let rule_lines = lines.items("rules");
        let account_lines = lines.items("accounts");
        let mut problems = Vec::new();
        let version = match raw.version.as_u64().and_then(|v| u32::try_from(v).ok()) {
            Some(v) => v,
            None => {
                problems.push(format!(
                    "{}version: `{}` is not a number; write `version: {VERSION}`",
                    lines.at(lines.top_key("version")),
                    serde_yaml::to_string(&raw.version)
                        .unwrap_or_default()
                        .trim()
                ));
                VERSION
            }
        };
        let mut rules = Vec::new();
        for (i, value) in raw.rules.into_iter().enumerate() {
            match parse_item::<RuleSpec>(value) {
                Ok(rule) => rules.push(rule),
                Err((field, e)) => {
                    let line = lines.field_of(&rule_lines, i, field.as_deref());
                    problems.push(format!("{}rules[{i}]: {e}", lines.at(line)));
                }
            }
        }
        let mut accounts = Vec::new();
        for (i, value) in raw.accounts.into_iter().enumerate() {
            match parse_item::<AccountAlias>(value) {
                Ok(account) => accounts.push(account),
                Err((field, e)) => {
                    let line = lines.field_of(&account_lines, i, field.as_deref());
                    problems.push(format!("{}accounts[{i}]: {e}", lines.at(line)));
                }
            }
        }
        let doc = RulesDocument {
            version,
            rules,
            accounts,
        };
        // Items that did not parse are left out, so later indexes would shift: check the rest
        // only when every item parsed, and say so otherwise.
        if problems.is_empty() {
            problems = doc.problems(partition, |list, i, field| {
                let items = if list == "rules" {
                    &rule_lines
                } else {
                    &account_lines
                };
                lines.at(lines.field_of(items, i, field))
            });
        }
        if problems.is_empty() {
            Ok(doc)
        } else {
            Err(DocumentError::Invalid(problems))
        }
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
        let problems = self.problems(partition, |_, _, _| String::new());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(DocumentError::Invalid(problems))
        }
    }

    /// Every problem of the document, each prefixed by `place(list, index, field)` (the line,
    /// when the text is known).
    fn problems(
        &self,
        partition: Partition,
        place: impl Fn(&str, usize, Option<&str>) -> String,
    ) -> Vec<String> {
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
                    let at = place("rules", i, Some(e.field));
                    problems.push(format!("{at}rules[{i}] ({}): {e}", rule.name));
                }
            }
            if !names.insert(rule.name.trim().to_string()) {
                let at = place("rules", i, Some("name"));
                problems.push(format!(
                    "{at}rules[{i}] ({}): name is used by an earlier rule; names must be unique",
                    rule.name
                ));
            }
        }
        let mut ids = HashSet::new();
        for (i, account) in self.accounts.iter().enumerate() {
            if let Err(errors) = account.validate() {
                for e in errors {
                    let at = place("accounts", i, Some(e.field));
                    problems.push(format!("{at}accounts[{i}] ({}): {e}", account.id));
                }
            }
            if !ids.insert(account.id.clone()) {
                let at = place("accounts", i, Some("id"));
                problems.push(format!(
                    "{at}accounts[{i}] ({}): listed twice; keep one entry per account",
                    account.id
                ));
            }
        }
        problems
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
    let session = |s: &super::SessionSpec| {
        if s.is_empty() {
            String::new()
        } else {
            serde_json::to_string(s).unwrap_or_default()
        }
    };
    field("session", session(&old.session), session(&new.session));
    out
}

/// The document as read before its items are checked one by one, so that one bad rule does
/// not hide the problems of the next.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    version: serde_yaml::Value,
    #[serde(default)]
    rules: Vec<serde_yaml::Value>,
    #[serde(default)]
    accounts: Vec<serde_yaml::Value>,
}

/// One list item as its type, or the field at fault (the unknown one, or the one whose value
/// is wrong) and the message.
fn parse_item<T: serde::de::DeserializeOwned>(
    value: serde_yaml::Value,
) -> Result<T, (Option<String>, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = e.inner().to_string();
        let field = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
            .or_else(|| {
                let path = e.path().to_string();
                (path != ".").then_some(path)
            });
        (field, message)
    })
}

/// Where things are in a block-style YAML text, for messages: the line of each item of a
/// top-level list and of a key inside an item. Flow style (`[{...}]`) has no item lines, and
/// the messages then name the place by index only.
struct Lines<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        Lines {
            lines: text.lines().collect(),
        }
    }

    /// `line N: ` for a known line, else nothing.
    fn at(&self, line: Option<usize>) -> String {
        line.map(|n| format!("line {n}: ")).unwrap_or_default()
    }

    /// The 1-based line of a top-level key.
    fn top_key(&self, key: &str) -> Option<usize> {
        let prefix = format!("{key}:");
        self.lines
            .iter()
            .position(|l| l.starts_with(&prefix))
            .map(|i| i + 1)
    }

    /// The 1-based first line of each item of the top-level list `key`.
    fn items(&self, key: &str) -> Vec<usize> {
        let Some(start) = self.top_key(key) else {
            return Vec::new();
        };
        let mut indent = None;
        let mut out = Vec::new();
        for (i, line) in self.lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let column = line.len() - trimmed.len();
            if column == 0 && !trimmed.starts_with('-') {
                break;
            }
            if trimmed == "-" || trimmed.starts_with("- ") {
                match indent {
                    None => {
                        indent = Some(column);
                        out.push(i + 1);
                    }
                    Some(c) if c == column => out.push(i + 1),
                    Some(_) => {}
                }
            }
        }
        out
    }

    /// The line of `field` inside item `index` (the item's first line without a field, or
    /// when the field is not written there).
    fn field_of(&self, items: &[usize], index: usize, field: Option<&str>) -> Option<usize> {
        let first = *items.get(index)?;
        let Some(field) = field else {
            return Some(first);
        };
        let end = items
            .get(index + 1)
            .map_or(self.lines.len(), |next| next - 1);
        let key = format!("{field}:");
        (first..=end)
            .find(|&n| {
                let text = self.lines[n - 1].trim_start();
                let text = text.strip_prefix("- ").unwrap_or(text).trim_start();
                text.starts_with(&key)
            })
            .or(Some(first))
    }
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
        assert!(
            problems[0].starts_with("line 4: rules[0] (a): match:"),
            "{problems:?}"
        );
        assert!(problems[1].starts_with("line 6: rules[1] (a): name is used"));
        assert!(problems[2].starts_with("line 10: accounts[0] (1): id:"));
    }

    #[test]
    fn every_schema_problem_is_reported_at_once_with_its_line() {
        let text = "version: 1\n\
                    rules:\n\
                    - name: a\n  match: ok\n  role: arn:aws:iam::123456789012:role/R\n  rolle: typo\n\
                    - name: b\n  match: ok\n  role: arn:aws:iam::123456789012:role/R\n\
                    - name: c\n  match: ok\n  role: arn:aws:iam::123456789012:role/R\n  session_duration: long\n\
                    accounts:\n\
                    - id: '123456789012'\n  name: n\n  colour: mauve\n";
        let Err(DocumentError::Invalid(problems)) = RulesDocument::from_yaml(text, Partition::Aws)
        else {
            panic!("must be refused");
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("line 6: rules[0]: unknown field `rolle`"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("line 13: rules[2]: invalid type"),
            "{problems:?}"
        );
        assert!(
            problems[2].starts_with("line 17: accounts[0]: unknown variant `mauve`"),
            "{problems:?}"
        );
        assert!(problems[2].contains("mauve"), "{problems:?}");
    }

    #[test]
    fn a_yaml_syntax_error_names_its_line() {
        let err = RulesDocument::from_yaml("version: 1\nrules:\n  - name: [a\n", Partition::Aws)
            .expect_err("broken YAML");
        assert!(err.to_string().contains("line "), "{err}");
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
