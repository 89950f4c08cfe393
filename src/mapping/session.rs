//! How a rule shapes the sessions of the roles it grants, beyond their duration: session
//! policies (`PolicyArns`, `Policy`), session tags and transitive tag keys, and the
//! RoleSessionName template. Written in a rule as [`SessionSpec`], checked at save into a
//! [`SessionShape`] that the grant carries to every path (console, CLI, API, federation link).
//!
//! Tag values and the session name are templates over the person (`{username}`, `{email}`,
//! `{display_name}`, `{attr:NAME}`), like the `[saml]` settings they are merged with: a rule's
//! tag wins over a global tag of the same key (ignoring case, as AWS does), transitive keys are
//! the union of both lists, and a rule's session name template replaces the global one (and is
//! made unique and fit for AWS by the same naming as the global one).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rule::FieldError;
use crate::domain::aws::{
    check_tag_key, policy_plaintext_len, InlinePolicy, Partition, PolicyArn, MAX_POLICY_ARNS,
    MAX_POLICY_PLAINTEXT,
};

/// Placeholders the attribute templates may use.
pub const TEMPLATE_FIELDS: &[&str] = &["username", "email", "display_name"];

/// Checks that a template only names known placeholders.
pub fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`{template}` has a `{{` without its `}}`"))?;
        let name = &after[..end];
        let attribute = name.strip_prefix("attr:").is_some_and(|a| {
            !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        });
        if !TEMPLATE_FIELDS.contains(&name) && !attribute {
            return Err(format!(
                "`{{{name}}}` is not a known placeholder; use {} or {{attr:NAME}} (an attribute the identity source gives)",
                TEMPLATE_FIELDS
                    .iter()
                    .map(|f| format!("{{{f}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// A rule's session controls as written (admin form, database, `rules.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// Managed session policies (`PolicyArns`), at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_arns: Vec<String>,
    /// Inline session policy (`Policy`), a JSON policy document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Session tags: key → value template; merged over `[saml] principal_tags`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Tag keys that follow the session through role chaining; added to the global ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    /// RoleSessionName template replacing `[saml] role_session_name` for this rule's roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_session_name: Option<String>,
}

impl SessionSpec {
    /// Whether the rule sets nothing here.
    pub fn is_empty(&self) -> bool {
        self == &SessionSpec::default()
    }
}

/// A rule's session controls, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionShape {
    pub policy_arns: Vec<PolicyArn>,
    pub policy: Option<InlinePolicy>,
    /// (key, value template), in key order.
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub role_session_name: Option<String>,
}

impl SessionShape {
    /// Whether the session carries a session policy. Such a role never reaches the console by a
    /// SAML POST (which cannot carry one): only through STS and the federation link.
    pub fn has_policy(&self) -> bool {
        !self.policy_arns.is_empty() || self.policy.is_some()
    }

    /// Whether the rule shapes the session at all (beyond duration and landing page).
    pub fn is_empty(&self) -> bool {
        self == &SessionShape::default()
    }
}

fn field(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

impl SessionSpec {
    /// Checks every field; errors name the form field (`policy_arns`, `policy`, `tags`,
    /// `transitive_tag_keys`, `role_session_name`).
    pub fn compile(&self, partition: Partition) -> Result<SessionShape, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.policy_arns.len() > MAX_POLICY_ARNS {
            errors.push(field(
                "policy_arns",
                format!(
                    "{} policy ARNs given; AWS accepts at most {MAX_POLICY_ARNS} managed session policies: combine some into one customer managed policy",
                    self.policy_arns.len()
                ),
            ));
        }
        let mut policy_arns = Vec::new();
        for raw in &self.policy_arns {
            match PolicyArn::parse(raw.trim(), partition) {
                Ok(arn) if policy_arns.contains(&arn) => {
                    errors.push(field("policy_arns", format!("`{raw}` is listed twice")))
                }
                Ok(arn) => policy_arns.push(arn),
                Err(e) => errors.push(field("policy_arns", e)),
            }
        }
        let policy = match self
            .policy
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            None => None,
            Some(raw) => match InlinePolicy::parse(raw) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(field("policy", format!("the session policy {e}")));
                    None
                }
            },
        };
        let plaintext = policy_plaintext_len(&policy_arns, policy.as_ref());
        if plaintext > MAX_POLICY_PLAINTEXT {
            errors.push(field(
                "policy",
                format!(
                    "the session policy and policy ARNs come to {plaintext} characters (without spaces); AWS accepts at most {MAX_POLICY_PLAINTEXT}: move statements into a managed policy and list its ARN"
                ),
            ));
        }
        let mut tags = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (key, template) in &self.tags {
            let key = key.trim();
            if let Err(e) = check_tag_key(key) {
                errors.push(field("tags", e));
            }
            if !seen.insert(key.to_lowercase()) {
                errors.push(field(
                    "tags",
                    format!("tag key `{key}` appears twice (AWS ignores case in tag keys)"),
                ));
            }
            if let Err(e) = check_template(template) {
                errors.push(field("tags", format!("the value of `{key}`: {e}")));
            }
            tags.push((key.to_string(), template.clone()));
        }
        if tags.len() > 50 {
            errors.push(field(
                "tags",
                format!("{} tags; AWS accepts at most 50 per session", tags.len()),
            ));
        }
        let mut transitive: Vec<String> = Vec::new();
        for key in &self.transitive_tag_keys {
            let key = key.trim();
            if let Err(e) = check_tag_key(key) {
                errors.push(field("transitive_tag_keys", e));
            } else if !transitive.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                transitive.push(key.to_string());
            }
        }
        let role_session_name = match self
            .role_session_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(t) => {
                if let Err(e) = check_template(t) {
                    errors.push(field("role_session_name", e));
                } else if t.chars().count() > 256 {
                    errors.push(field(
                        "role_session_name",
                        "keep the template under 256 characters (AWS allows 64 in the name)",
                    ));
                }
                Some(t.to_string())
            }
        };
        if errors.is_empty() {
            Ok(SessionShape {
                policy_arns,
                policy,
                tags,
                transitive_tag_keys: transitive,
                role_session_name,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(spec: &SessionSpec) -> Vec<&'static str> {
        spec.compile(Partition::Aws)
            .err()
            .map(|e| e.iter().map(|e| e.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_full_spec_compiles() {
        let spec = SessionSpec {
            policy_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            policy: Some("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"iam:*\",\"Resource\":\"*\"}}".into()),
            tags: [("Project".to_string(), "payments".to_string()), ("Mail".to_string(), "{email}".to_string())].into(),
            transitive_tag_keys: vec!["Project".into(), "project".into()],
            role_session_name: Some("{username}-pay".into()),
        };
        let shape = spec.compile(Partition::Aws).expect("valid");
        assert!(shape.has_policy());
        assert_eq!(shape.tags.len(), 2);
        assert_eq!(shape.transitive_tag_keys, vec!["Project".to_string()]);
        assert!(SessionSpec::default()
            .compile(Partition::Aws)
            .expect("empty")
            .is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        let spec = SessionSpec {
            policy_arns: vec!["arn:aws:iam::aws:role/X".into()],
            policy: Some("{\"Statement\":".into()),
            tags: [("aws:x".to_string(), "v".to_string())].into(),
            transitive_tag_keys: vec!["a\nb".into()],
            role_session_name: Some("{nope}".into()),
        };
        assert_eq!(
            fields(&spec),
            vec![
                "policy_arns",
                "policy",
                "tags",
                "transitive_tag_keys",
                "role_session_name"
            ]
        );
    }

    #[test]
    fn limits_aws_documents_are_enforced_at_save() {
        let eleven = SessionSpec {
            policy_arns: (0..11)
                .map(|i| format!("arn:aws:iam::123456789012:policy/P{i}"))
                .collect(),
            ..SessionSpec::default()
        };
        let errors = eleven.compile(Partition::Aws).expect_err("too many");
        assert!(errors[0].message.contains("at most 10"), "{errors:?}");
        let statement = "{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::some-bucket-name/*\"}";
        let big = format!(
            "{{\"Version\":\"2012-10-17\",\"Statement\":[{}]}}",
            vec![statement; 30].join(",")
        );
        let errors = SessionSpec {
            policy: Some(big),
            ..SessionSpec::default()
        }
        .compile(Partition::Aws)
        .expect_err("too large");
        assert!(errors[0].message.contains("at most 2048"), "{errors:?}");
        let many_tags = SessionSpec {
            tags: (0..51)
                .map(|i| (format!("k{i}"), "v".to_string()))
                .collect(),
            ..SessionSpec::default()
        };
        assert_eq!(fields(&many_tags), vec!["tags"]);
    }
}
