//! `~/.aws/config` (or `$AWS_CONFIG_FILE`): the profiles `configure` writes, one per role, each
//! marked so that a later run replaces exactly those and never a profile it did not write.

use std::path::PathBuf;

use serde_json::Value;

/// The line that marks a profile as written by `configure`.
pub const MARK: &str =
    "# managed by fedbroker-cli (`fedbroker-cli configure` rewrites this profile)";

pub fn path() -> PathBuf {
    match std::env::var_os("AWS_CONFIG_FILE").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".aws/config"),
    }
}

/// A `[section]` with its lines (header included), or the lines before the first section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// `profile NAME`, `default`, `sso-session X`…; empty for the preamble.
    pub header: String,
    pub lines: Vec<String>,
}

impl Section {
    pub fn is_ours(&self) -> bool {
        self.lines.iter().any(|l| l.trim() == MARK)
    }

    /// The profile's name (`default` for `[default]`).
    pub fn profile(&self) -> Option<&str> {
        if self.header == "default" {
            return Some("default");
        }
        self.header.strip_prefix("profile ").map(str::trim)
    }

    /// The role of a profile that runs `credential-process --role ARN`.
    pub fn role(&self) -> Option<String> {
        self.lines.iter().find_map(|l| {
            let (key, value) = l.split_once('=')?;
            if key.trim() != "credential_process" {
                return None;
            }
            let mut words = value.split_whitespace();
            words.find(|w| *w == "--role")?;
            words.next().map(str::to_string)
        })
    }

    /// The profile's `region`, if set.
    pub fn region(&self) -> Option<String> {
        self.lines.iter().find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "region").then(|| value.trim().to_string())
        })
    }
}

pub fn parse(text: &str) -> Vec<Section> {
    let mut sections = vec![Section {
        header: String::new(),
        lines: Vec::new(),
    }];
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            sections.push(Section {
                header: trimmed[1..trimmed.len() - 1].trim().to_string(),
                lines: vec![line.to_string()],
            });
        } else if let Some(last) = sections.last_mut() {
            last.lines.push(line.to_string());
        }
    }
    sections
}

pub fn render(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        for l in &s.lines {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// `payments-prod-admin`: the account's name (or id), its environment, the role's name, each
/// lowercased with anything but letters, digits, `_` and `.` turned into `-`.
pub fn profile_name(prefix: &str, role: &Value) -> String {
    let arn = role["role_arn"].as_str().unwrap_or("");
    let role_name = arn.rsplit('/').next().unwrap_or(arn);
    let account = role["account_name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .or(role["account_id"].as_str())
        .unwrap_or("");
    let environment = role["environment"].as_str().unwrap_or("");
    let raw = [prefix, account, environment, role_name]
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("-")
        .to_lowercase();
    let mut out = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || "_.".contains(c) {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_matches('-').to_string()
}

/// What `configure` changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Profiles of the same name written by someone else: left alone, ours not written.
    pub skipped: Vec<String>,
    pub text: String,
}

/// The config with our profiles replaced by one per role (foreign sections untouched, in place).
pub fn plan(current: &str, roles: &[Value], prefix: &str, region: &str, program: &str) -> Plan {
    let sections = parse(current);
    let foreign: Vec<&Section> = sections.iter().filter(|s| !s.is_ours()).collect();
    let ours_before: Vec<&Section> = sections.iter().filter(|s| s.is_ours()).collect();
    let mut plan = Plan::default();
    let mut wanted: Vec<Section> = Vec::new();
    for role in roles {
        let name = profile_name(prefix, role);
        let arn = role["role_arn"].as_str().unwrap_or("");
        if name.is_empty() || arn.is_empty() || wanted.iter().any(|w| w.profile() == Some(&name)) {
            continue;
        }
        if foreign.iter().any(|s| s.profile() == Some(name.as_str())) {
            plan.skipped.push(name);
            continue;
        }
        wanted.push(Section {
            header: format!("profile {name}"),
            lines: vec![
                format!("[profile {name}]"),
                MARK.to_string(),
                format!("credential_process = {program} credential-process --role {arn}"),
                format!("region = {region}"),
                String::new(),
            ],
        });
    }
    wanted.sort_by(|a, b| a.header.cmp(&b.header));
    for w in &wanted {
        match ours_before.iter().find(|o| o.header == w.header) {
            None => plan.added.push(w.profile().unwrap_or("").to_string()),
            Some(o) if o.lines != w.lines => {
                plan.changed.push(w.profile().unwrap_or("").to_string())
            }
            Some(_) => {}
        }
    }
    for o in &ours_before {
        if !wanted.iter().any(|w| w.header == o.header) {
            plan.removed.push(o.profile().unwrap_or("").to_string());
        }
    }
    let mut out: Vec<Section> = foreign.into_iter().cloned().collect();
    if let Some(last) = out.last_mut() {
        if !wanted.is_empty() && last.lines.last().is_some_and(|l| !l.trim().is_empty()) {
            last.lines.push(String::new());
        }
    }
    out.extend(wanted);
    plan.text = render(&out);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roles() -> Vec<Value> {
        vec![
            json!({"role_arn": "arn:aws:iam::123456789012:role/Admin", "account_id": "123456789012",
                   "account_name": "Payments", "environment": "prod"}),
            json!({"role_arn": "arn:aws:iam::210987654321:role/Dev", "account_id": "210987654321",
                   "account_name": null, "environment": null}),
        ]
    }

    const FOREIGN: &str = "[default]\nregion = eu-west-1\n\n[profile mine]\nsso_session = corp\n";

    #[test]
    fn profiles_are_named_after_alias_environment_and_role() {
        assert_eq!(profile_name("", &roles()[0]), "payments-prod-admin");
        assert_eq!(profile_name("fb", &roles()[1]), "fb-210987654321-dev");
    }

    #[test]
    fn a_second_run_changes_nothing_and_foreign_profiles_stay_as_they_were() {
        let first = plan(FOREIGN, &roles(), "", "us-east-1", "fedbroker-cli");
        assert_eq!(first.added, ["210987654321-dev", "payments-prod-admin"]);
        assert!(first.text.starts_with(FOREIGN), "{}", first.text);
        let second = plan(&first.text, &roles(), "", "us-east-1", "fedbroker-cli");
        assert_eq!(second.text, first.text);
        assert_eq!(
            second,
            Plan {
                text: first.text.clone(),
                ..Plan::default()
            }
        );
        // A role gone: only its profile goes.
        let third = plan(&first.text, &roles()[..1], "", "us-east-1", "fedbroker-cli");
        assert_eq!(third.removed, ["210987654321-dev"]);
        assert!(third.text.starts_with(FOREIGN));
    }

    #[test]
    fn a_foreign_profile_of_the_same_name_is_never_overwritten() {
        let mine = "[profile payments-prod-admin]\nregion = ap-south-1\n";
        let p = plan(mine, &roles(), "", "us-east-1", "fedbroker-cli");
        assert_eq!(p.skipped, ["payments-prod-admin"]);
        assert!(p.text.starts_with(mine));
        assert_eq!(p.text.matches("[profile payments-prod-admin]").count(), 1);
    }

    #[test]
    fn a_profile_tells_its_role_and_region() {
        let s = &parse("[profile x]\ncredential_process = /bin/fedbroker-cli credential-process --role arn:aws:iam::1:role/R\nregion = eu-west-1\n")[1];
        assert_eq!(s.role().as_deref(), Some("arn:aws:iam::1:role/R"));
        assert_eq!(s.region().as_deref(), Some("eu-west-1"));
        assert_eq!(s.profile(), Some("x"));
    }
}
