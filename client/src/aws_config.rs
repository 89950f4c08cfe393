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

/// The sections of a config file. Comments and blank lines between two sections belong to the
/// one below them (they usually describe it), so that replacing a section never takes them.
pub fn parse(text: &str) -> Vec<Section> {
    let mut sections = vec![Section {
        header: String::new(),
        lines: Vec::new(),
    }];
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            let mut lead = Vec::new();
            if let Some(last) = sections.last_mut().filter(|s| !s.header.is_empty()) {
                while last.lines.len() > 1
                    && last.lines.last().is_some_and(|l| {
                        let t = l.trim();
                        (t.is_empty() || t.starts_with('#') || t.starts_with(';')) && t != MARK
                    })
                {
                    lead.insert(0, last.lines.pop().unwrap_or_default());
                }
            }
            lead.push(line.to_string());
            sections.push(Section {
                header: trimmed[1..trimmed.len() - 1].trim().to_string(),
                lines: lead,
            });
        } else if let Some(last) = sections.last_mut() {
            last.lines.push(line.to_string());
        }
    }
    sections
}

impl Section {
    /// The lines before the `[header]` line (comments about the section).
    fn lead(&self) -> &[String] {
        if self.header.is_empty() {
            return &self.lines[..0];
        }
        let at = self
            .lines
            .iter()
            .position(|l| l.trim().starts_with('['))
            .unwrap_or(0);
        &self.lines[..at]
    }

    /// Settings a person added to a marked profile, kept when it is rewritten.
    fn extra(&self) -> Vec<String> {
        let at = self.lead().len() + 1;
        self.lines[at.min(self.lines.len())..]
            .iter()
            .filter(|l| {
                let key = l.split('=').next().unwrap_or("").trim();
                l.trim() != MARK
                    && !l.trim().is_empty()
                    && key != "credential_process"
                    && key != "region"
            })
            .cloned()
            .collect()
    }
}

/// Lines without the blank ones at the end (separators, which move between sections).
fn without_blank_end(lines: &[String]) -> &[String] {
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    &lines[..end]
}

/// Whether `arn` is an IAM role ARN that is safe on a config line (no spaces, no newlines).
fn is_role_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws")
        && arn.contains(":iam::")
        && arn.contains(":role/")
        && arn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-:/".contains(c))
}

/// The program as a `credential_process` word: quoted when it has spaces or quotes.
fn program_word(program: &str) -> String {
    if program
        .chars()
        .any(|c| c.is_whitespace() || c == '\'' || c == '"')
    {
        format!("\"{}\"", program.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        program.to_string()
    }
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

/// The config with our profiles replaced by one per role: foreign sections untouched and in
/// place, the comments above our profiles kept where they were, settings a person added to one
/// of ours carried over; values that could break the file (an ARN with a newline, a strange
/// Region) are never written.
pub fn plan(current: &str, roles: &[Value], prefix: &str, region: &str, program: &str) -> Plan {
    let sections = parse(current);
    let foreign: Vec<&Section> = sections.iter().filter(|s| !s.is_ours()).collect();
    let ours_before: Vec<&Section> = sections.iter().filter(|s| s.is_ours()).collect();
    let region = if !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        region
    } else {
        "us-east-1"
    };
    let mut plan = Plan::default();
    let mut wanted: Vec<Section> = Vec::new();
    for role in roles {
        let name = profile_name(prefix, role);
        let arn = role["role_arn"].as_str().unwrap_or("");
        if name.is_empty() || !is_role_arn(arn) || wanted.iter().any(|w| w.profile() == Some(&name))
        {
            continue;
        }
        if foreign.iter().any(|s| s.profile() == Some(name.as_str())) {
            plan.skipped.push(name);
            continue;
        }
        let header = format!("profile {name}");
        let mut lines = vec![
            format!("[profile {name}]"),
            MARK.to_string(),
            format!(
                "credential_process = {} credential-process --role {arn}",
                program_word(program)
            ),
            format!("region = {region}"),
        ];
        if let Some(before) = ours_before.iter().find(|o| o.header == header) {
            lines.extend(before.extra());
        }
        lines.push(String::new());
        wanted.push(Section { header, lines });
    }
    wanted.sort_by(|a, b| a.header.cmp(&b.header));
    for w in &wanted {
        match ours_before.iter().find(|o| o.header == w.header) {
            None => plan.added.push(w.profile().unwrap_or("").to_string()),
            Some(o)
                if without_blank_end(&o.lines[o.lead().len()..]) != without_blank_end(&w.lines) =>
            {
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
    let mut out: Vec<Section> = sections
        .iter()
        .map(|s| {
            if s.is_ours() {
                Section {
                    header: String::new(),
                    // The comments above it; its blank separators are written anew.
                    lines: s
                        .lead()
                        .iter()
                        .filter(|l| !l.trim().is_empty())
                        .cloned()
                        .collect(),
                }
            } else {
                s.clone()
            }
        })
        .collect();
    if let Some(last) = out.iter_mut().rev().find(|s| !s.lines.is_empty()) {
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
    fn comments_and_settings_of_the_person_survive_a_rewrite() {
        let first = plan(FOREIGN, &roles(), "", "us-east-1", "fedbroker-cli");
        // The person adds a setting to a marked profile and a comment above their own.
        let edited = first.text.replace(
            "region = us-east-1\n\n[profile payments",
            "region = us-east-1\noutput = json\n\n[profile payments",
        ) + "\n# my own profile, keep\n[profile later]\nregion = eu-north-1\n";
        let again = plan(&edited, &roles(), "", "eu-west-1", "fedbroker-cli");
        assert!(again.text.contains("output = json"), "{}", again.text);
        assert!(
            again
                .text
                .contains("# my own profile, keep\n[profile later]"),
            "{}",
            again.text
        );
        assert_eq!(again.changed, ["210987654321-dev", "payments-prod-admin"]);
        let stable = plan(&again.text, &roles(), "", "eu-west-1", "fedbroker-cli");
        assert_eq!(stable.text, again.text, "and a second run changes nothing");
    }

    #[test]
    fn unsafe_values_never_reach_the_file() {
        let evil = vec![json!({
            "role_arn": "arn:aws:iam::1:role/X\ncredential_process = sh -c evil",
            "account_id": "1"
        })];
        let p = plan("", &evil, "", "us-east-1", "fedbroker-cli");
        assert!(p.added.is_empty(), "{p:?}");
        let p = plan(
            "",
            &roles(),
            "",
            "us-east-1\n[x]",
            "/opt/my tools/fedbroker-cli",
        );
        assert!(
            p.text.contains(
                "credential_process = \"/opt/my tools/fedbroker-cli\" credential-process"
            ),
            "{}",
            p.text
        );
        assert!(p.text.contains("region = us-east-1\n"), "{}", p.text);
        assert!(!p.text.contains("[x]"));
    }

    #[test]
    fn a_profile_tells_its_role_and_region() {
        let s = &parse("[profile x]\ncredential_process = /bin/fedbroker-cli credential-process --role arn:aws:iam::1:role/R\nregion = eu-west-1\n")[1];
        assert_eq!(s.role().as_deref(), Some("arn:aws:iam::1:role/R"));
        assert_eq!(s.region().as_deref(), Some("eu-west-1"));
        assert_eq!(s.profile(), Some("x"));
    }
}
