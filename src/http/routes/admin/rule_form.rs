//! The rule form: what an admin posts, turned into a rule (or into errors beside each field),
//! and a stored rule turned back into the form.

use serde::Deserialize;

use crate::http::routes::csrf::CsrfToken;
use crate::mapping::{Effect, FieldError, RuleSpec, SessionSpec};

/// The rule form as posted (and as re-shown).
#[derive(Deserialize, Debug, Default, Clone)]
pub struct RuleForm {
    #[serde(default)]
    pub(super) csrf_token: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    /// Checkbox: present when ticked.
    pub(super) enabled: Option<String>,
    #[serde(default)]
    pub(super) effect: String,
    #[serde(default)]
    pub(super) pattern: String,
    pub(super) case_sensitive: Option<String>,
    #[serde(default)]
    pub(super) role: String,
    #[serde(default)]
    pub(super) provider: String,
    #[serde(default)]
    pub(super) session_duration: String,
    #[serde(default)]
    pub(super) relay_state: String,
    /// One managed policy ARN per line.
    #[serde(default)]
    pub(super) policy_arns: String,
    #[serde(default)]
    pub(super) policy: String,
    /// One `Key=value template` per line.
    #[serde(default)]
    pub(super) tags: String,
    /// Keys separated by commas (tag keys may contain spaces).
    #[serde(default)]
    pub(super) transitive_tag_keys: String,
    #[serde(default)]
    pub(super) role_session_name: String,
    pub(super) version: Option<i64>,
}

impl CsrfToken for RuleForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl RuleForm {
    pub(super) fn from_spec(spec: &RuleSpec, version: Option<i64>) -> RuleForm {
        RuleForm {
            csrf_token: String::new(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            enabled: spec.enabled.then(|| "on".to_string()),
            effect: spec.effect.as_str().to_string(),
            pattern: spec.pattern.clone(),
            case_sensitive: spec.case_sensitive.then(|| "on".to_string()),
            role: spec.role.clone(),
            provider: spec.provider.clone().unwrap_or_default(),
            session_duration: spec
                .session_duration
                .map(|d| d.to_string())
                .unwrap_or_default(),
            relay_state: spec.relay_state.clone().unwrap_or_default(),
            policy_arns: spec.session.policy_arns.join("\n"),
            policy: spec.session.policy.clone().unwrap_or_default(),
            tags: spec
                .session
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            transitive_tag_keys: spec.session.transitive_tag_keys.join(", "),
            role_session_name: spec.session.role_session_name.clone().unwrap_or_default(),
            version,
        }
    }

    /// The spec the form describes (what could be read of it), and the errors of the fields
    /// that cannot even be read.
    pub(super) fn to_spec(&self) -> (RuleSpec, Vec<FieldError>) {
        let mut errors = Vec::new();
        let effect = Effect::parse(&self.effect).unwrap_or_else(|| {
            errors.push(FieldError {
                field: "effect",
                message: "choose allow or deny".into(),
            });
            Effect::Allow
        });
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let session_duration = match self.session_duration.trim() {
            "" => None,
            raw => match raw.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(FieldError {
                        field: "session_duration",
                        message: format!("`{raw}` is not a whole number of seconds (900 to 43200)"),
                    });
                    None
                }
            },
        };
        let mut tags = std::collections::BTreeMap::new();
        for line in self.tags.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.split_once('=') {
                Some((key, _))
                    if tags
                        .keys()
                        .any(|k: &String| k.eq_ignore_ascii_case(key.trim())) =>
                {
                    errors.push(FieldError {
                        field: "tags",
                        message: format!(
                            "tag key `{}` is given twice (AWS ignores case in tag keys); keep one line",
                            key.trim()
                        ),
                    })
                }
                Some((key, value)) => {
                    tags.insert(key.trim().to_string(), value.trim().to_string());
                }
                None => errors.push(FieldError {
                    field: "tags",
                    message: format!("`{line}` must look like Key=value (the value may use {{username}}, {{email}}, {{attr:NAME}})"),
                }),
            }
        }
        let session = SessionSpec {
            policy_arns: self
                .policy_arns
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            policy: text(&self.policy),
            tags,
            transitive_tag_keys: self
                .transitive_tag_keys
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect(),
            role_session_name: text(&self.role_session_name),
        };
        let spec = RuleSpec {
            name: self.name.trim().to_string(),
            description: self.description.trim().to_string(),
            enabled: self.enabled.is_some(),
            effect,
            pattern: self.pattern.trim().to_string(),
            case_sensitive: self.case_sensitive.is_some(),
            role: self.role.trim().to_string(),
            provider: text(&self.provider),
            session_duration,
            relay_state: text(&self.relay_state),
            session,
        };
        (spec, errors)
    }
}

/// One message per field, shown under its input.
#[derive(Default)]
pub(super) struct Errors {
    pub(super) name: String,
    pub(super) effect: String,
    pub(super) pattern: String,
    pub(super) role: String,
    pub(super) provider: String,
    pub(super) session_duration: String,
    pub(super) relay_state: String,
    pub(super) policy_arns: String,
    pub(super) policy: String,
    pub(super) tags: String,
    pub(super) transitive_tag_keys: String,
    pub(super) role_session_name: String,
}

impl Errors {
    pub(super) fn from(list: &[FieldError]) -> Errors {
        let mut e = Errors::default();
        for f in list {
            let slot = match f.field {
                "name" => &mut e.name,
                "effect" => &mut e.effect,
                "match" => &mut e.pattern,
                "role" => &mut e.role,
                "provider" => &mut e.provider,
                "session_duration" => &mut e.session_duration,
                "policy_arns" => &mut e.policy_arns,
                "policy" | "session" => &mut e.policy,
                "tags" => &mut e.tags,
                "transitive_tag_keys" => &mut e.transitive_tag_keys,
                "role_session_name" => &mut e.role_session_name,
                _ => &mut e.relay_state,
            };
            if !slot.is_empty() {
                slot.push_str("; ");
            }
            slot.push_str(&f.message);
        }
        e
    }

    pub(super) fn name_taken(name: &str) -> Errors {
        Errors {
            name: format!("a rule named “{name}” exists already; choose another name"),
            ..Errors::default()
        }
    }

    pub(super) fn any(&self) -> bool {
        [
            &self.name,
            &self.effect,
            &self.pattern,
            &self.role,
            &self.provider,
            &self.session_duration,
            &self.relay_state,
            &self.policy_arns,
            &self.policy,
            &self.tags,
            &self.transitive_tag_keys,
            &self.role_session_name,
        ]
        .iter()
        .any(|s| !s.is_empty())
    }
}
