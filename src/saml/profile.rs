//! The per-user attributes of an AWS assertion, from the `[saml]` templates.

use super::settings::SamlSettings;
use crate::directory::settings::SourcesSettings;
use crate::directory::Identity;
use crate::domain::aws::{
    AwsRuleError, Partition, RoleSessionName, SessionDuration, SessionNaming, SessionTags,
    SourceIdentity,
};
use crate::mapping::SessionShape;

/// The settings that shape every assertion, parsed once.
#[derive(Debug, Clone)]
pub struct AwsProfile {
    pub entity_id: String,
    pub partition: Partition,
    pub provider_name: String,
    pub session_duration: SessionDuration,
    pub validity_secs: i64,
    pub skew_secs: i64,
    pub sign_response: bool,
    pub multi_role_chooser: bool,
    role_session_name: String,
    source_identity: String,
    tags: Vec<(String, String)>,
    transitive: Vec<String>,
    naming: SessionNaming,
}

/// The attributes computed for one user (and the rule of the role they sign in to).
#[derive(Debug, Clone)]
pub struct UserAttributes {
    pub session_name: RoleSessionName,
    pub source_identity: Option<SourceIdentity>,
    pub tags: SessionTags,
    /// Where each tag came from, in the order of `tags`: for the dry run.
    pub tag_origins: Vec<TagOrigin>,
}

/// Where a session tag came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOrigin {
    /// `[saml] principal_tags`.
    Settings,
    /// The granting rule.
    Rule,
    /// The granting rule, replacing the settings' tag of the same key.
    RuleReplacingSettings,
}

impl TagOrigin {
    pub fn describe(self) -> &'static str {
        match self {
            TagOrigin::Settings => "settings",
            TagOrigin::Rule => "rule",
            TagOrigin::RuleReplacingSettings => "rule (replaces the settings' value)",
        }
    }
}

/// Fills `{username}`, `{email}`, `{display_name}` and `{attr:NAME}` (an attribute the
/// identity source gave; empty when it gave none) from an identity. Checked at start-up.
///
/// One pass over the template: a substituted value is never read again, so a username such as
/// `z{email}` stays that text instead of becoming someone's address.
pub fn render_template(template: &str, identity: &Identity) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        let value = match name {
            "username" => Some(identity.username.as_str()),
            "email" => Some(identity.email.as_str()),
            "display_name" => Some(identity.display_name.as_str()),
            _ => name
                .strip_prefix("attr:")
                .map(|a| identity.attributes.get(a).map_or("", String::as_str)),
        };
        match value {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

impl AwsProfile {
    /// Reads `[saml]`; `public_url` gives the default entityID.
    pub fn from_settings(
        s: &SamlSettings,
        sources: &SourcesSettings,
        public_url: &str,
    ) -> anyhow::Result<AwsProfile> {
        Ok(AwsProfile {
            entity_id: if s.entity_id.is_empty() {
                format!("{public_url}/saml/metadata")
            } else {
                s.entity_id.clone()
            },
            partition: s.partition,
            provider_name: s.provider_name.clone(),
            session_duration: SessionDuration::parse(s.session_duration_secs)?,
            validity_secs: s.assertion_validity_secs,
            skew_secs: s.clock_skew_secs,
            sign_response: s.sign_response,
            multi_role_chooser: s.multi_role_chooser,
            role_session_name: s.role_session_name.clone(),
            source_identity: s.source_identity.clone(),
            tags: s
                .principal_tags
                .iter()
                .filter_map(|e| e.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .collect(),
            transitive: s.transitive_tag_keys.clone(),
            naming: SessionNaming::new(sources.session_name_suffixes()),
        })
    }

    /// What a rule's session controls would break once merged with the settings, checked when
    /// the rule is saved (every sign-in of its roles would otherwise be refused): more than 50
    /// tags together, or a transitive key that names no tag sent.
    pub fn check_rule_session(&self, rule: &SessionShape) -> Vec<crate::mapping::FieldError> {
        let mut errors = Vec::new();
        let mut keys: Vec<String> = self.tags.iter().map(|(k, _)| k.to_lowercase()).collect();
        for (key, _) in &rule.tags {
            if !keys.contains(&key.to_lowercase()) {
                keys.push(key.to_lowercase());
            }
        }
        if keys.len() > 50 {
            errors.push(crate::mapping::FieldError {
                field: "tags",
                message: format!(
                    "with the {} tags of the settings' principal_tags this makes {} session tags; AWS accepts at most 50",
                    self.tags.len(),
                    keys.len()
                ),
            });
        }
        for key in &rule.transitive_tag_keys {
            if !keys.contains(&key.to_lowercase()) {
                errors.push(crate::mapping::FieldError {
                    field: "transitive_tag_keys",
                    message: format!(
                        "`{key}` is not a tag the rule or the settings send; list only keys of those tags"
                    ),
                });
            }
        }
        errors
    }

    /// Whether SourceIdentity is sent (roles then need `sts:SetSourceIdentity`).
    pub fn sends_source_identity(&self) -> bool {
        !self.source_identity.is_empty()
    }

    /// Whether session tags are sent (roles then need `sts:TagSession`).
    pub fn sends_tags(&self) -> bool {
        !self.tags.is_empty()
    }

    /// The assertion for `identity` and `roles`, addressed to `acs_url`: one builder for the
    /// sign-in and the admin dry run, so the dry run shows exactly what would be sent.
    pub fn assertion<'a>(
        &'a self,
        identity: &'a Identity,
        attributes: &'a UserAttributes,
        acs_url: &'a str,
        roles: &'a [crate::domain::aws::RolePair],
        duration: SessionDuration,
    ) -> crate::saml::response::AwsAssertion<'a> {
        crate::saml::response::AwsAssertion {
            issuer: &self.entity_id,
            acs_url,
            partition: self.partition,
            name_id: &identity.username,
            roles,
            session_name: &attributes.session_name,
            source_identity: attributes.source_identity.as_ref(),
            session_duration: Some(duration),
            tags: &attributes.tags,
            issued_at: chrono::Utc::now(),
            validity_secs: self.validity_secs,
            skew_secs: self.skew_secs,
        }
    }

    /// What fedbroker changes for this person: `attribute: raw → sent`, one line each, for
    /// the dry run.
    pub fn rewrites(&self, identity: &Identity, rule: &SessionShape) -> Vec<String> {
        let mut out = Vec::new();
        let suffix = self.naming.suffix_of(&identity.source);
        let mut check = |attribute: &str, template: &str| {
            if template.is_empty() {
                return;
            }
            let raw = render_template(template, identity);
            let sent = self.naming.name(&identity.source, &raw);
            if sent == format!("{raw}{suffix}") && !suffix.is_empty() {
                out.push(format!(
                    "{attribute}: `{raw}` is sent as `{sent}` (people from source `{}` carry its suffix, so no one else has their name)",
                    identity.source
                ));
            } else if raw != sent {
                out.push(format!(
                    "{attribute}: `{raw}` is sent as `{sent}` (AWS allows 2-64 of A-Z a-z 0-9 + = , . @ _ -; a rewritten name ends in a hash of the original, so no two people share it)"
                ));
            }
        };
        check(
            "RoleSessionName",
            rule.role_session_name
                .as_deref()
                .unwrap_or(&self.role_session_name),
        );
        check("SourceIdentity", &self.source_identity);
        out
    }

    /// Computes the user's attributes for a role granted by a rule shaping its sessions as
    /// `rule` says (an empty shape: the settings alone). RoleSessionName and SourceIdentity are
    /// made unique and fit for AWS by [`SessionNaming`] (never refused); the merged tags are
    /// checked and every violation is reported.
    ///
    /// Merge: the settings' tags in their order, a rule's tag replacing the settings' tag of the
    /// same key (ignoring case, as AWS does) in place, then the rule's other tags; transitive
    /// keys are both lists; the rule's session name template replaces the settings' one.
    pub fn user_attributes(
        &self,
        identity: &Identity,
        rule: &SessionShape,
    ) -> Result<UserAttributes, Vec<AwsRuleError>> {
        let session_text = |template: &str| {
            self.naming
                .name(&identity.source, &render_template(template, identity))
        };
        let name = session_text(
            rule.role_session_name
                .as_deref()
                .unwrap_or(&self.role_session_name),
        );
        let session_name = RoleSessionName::parse(&name).map_err(|e| vec![e])?;
        let source_identity = if self.source_identity.is_empty() {
            None
        } else {
            let sent = session_text(&self.source_identity);
            Some(SourceIdentity::parse(&sent).map_err(|e| vec![e])?)
        };
        let mut merged: Vec<(String, String, TagOrigin)> = self
            .tags
            .iter()
            .map(|(k, t)| (k.clone(), t.clone(), TagOrigin::Settings))
            .collect();
        for (key, template) in &rule.tags {
            match merged
                .iter_mut()
                .find(|(k, ..)| k.eq_ignore_ascii_case(key))
            {
                Some(slot) => {
                    *slot = (
                        key.clone(),
                        template.clone(),
                        TagOrigin::RuleReplacingSettings,
                    )
                }
                None => merged.push((key.clone(), template.clone(), TagOrigin::Rule)),
            }
        }
        let mut transitive = self.transitive.clone();
        for key in &rule.transitive_tag_keys {
            if !transitive.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                transitive.push(key.clone());
            }
        }
        let tag_origins = merged.iter().map(|(.., o)| *o).collect();
        let tags = SessionTags::parse(
            merged
                .into_iter()
                .map(|(k, t, _)| (k, render_template(&t, identity)))
                .collect(),
            transitive,
        )?;
        Ok(UserAttributes {
            session_name,
            source_identity,
            tags,
            tag_origins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in defaults, without any configuration file.
    fn default_settings() -> crate::config::Settings {
        crate::config::Settings::load(
            &crate::config::ConfigSource {
                dir: Some("/nonexistent-config-dir".into()),
                profile: None,
            },
            Vec::new(),
        )
        .expect("defaults")
    }

    fn person(username: &str, source: &str) -> Identity {
        Identity {
            user_id: 1,
            username: username.into(),
            display_name: "{username}".into(),
            email: "admin@example.com".into(),
            groups: Vec::new(),
            must_change_password: false,
            attributes: [("team".to_string(), "{email}".to_string())].into(),
            source: source.into(),
            memberships: Vec::new(),
        }
    }

    #[test]
    fn a_rules_tags_and_session_name_merge_over_the_settings() {
        let mut settings = default_settings();
        settings.saml.principal_tags = vec!["Team=platform".into(), "Mail={email}".into()];
        settings.saml.transitive_tag_keys = vec!["Team".into()];
        let profile =
            AwsProfile::from_settings(&settings.saml, &settings.sources, "https://b.example")
                .expect("profile");
        let alice = person("alice", "local");
        let plain = profile
            .user_attributes(&alice, &SessionShape::default())
            .expect("valid");
        assert_eq!(plain.tag_origins, vec![TagOrigin::Settings; 2]);
        let rule = SessionShape {
            tags: vec![
                ("TEAM".into(), "payments".into()),
                ("Cost".into(), "cc-{username}".into()),
            ],
            transitive_tag_keys: vec!["team".into(), "Cost".into()],
            role_session_name: Some("{username}-pay".into()),
            ..SessionShape::default()
        };
        let merged = profile.user_attributes(&alice, &rule).expect("valid");
        assert_eq!(
            merged.tags.tags(),
            &[
                ("TEAM".to_string(), "payments".to_string()),
                ("Mail".to_string(), "admin@example.com".to_string()),
                ("Cost".to_string(), "cc-alice".to_string()),
            ],
            "the rule's key replaces the settings' one in place, ignoring case"
        );
        assert_eq!(
            merged.tag_origins,
            vec![
                TagOrigin::RuleReplacingSettings,
                TagOrigin::Settings,
                TagOrigin::Rule
            ]
        );
        assert_eq!(
            merged.tags.transitive(),
            &["Team".to_string(), "Cost".to_string()]
        );
        assert_eq!(merged.session_name.as_str(), "alice-pay");
        let notes = profile.rewrites(&person("a b", "local"), &rule);
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("RoleSessionName: `a b-pay`")),
            "the rule's session name template is the one rewritten: {notes:?}"
        );
    }

    #[test]
    fn templates_render_in_one_pass() {
        let p = person("z{email}", "local");
        assert_eq!(render_template("{username}", &p), "z{email}");
        assert_eq!(
            render_template("{display_name}/{attr:team}/{attr:none}", &p),
            "{username}/{email}/"
        );
        assert_eq!(render_template("a{b", &p), "a{b");
        assert_eq!(render_template("{unknown}x", &p), "{unknown}x");
    }

    #[test]
    fn session_names_carry_the_source_and_never_reexpand() {
        let mut settings = default_settings();
        settings.sources.ldap = vec![toml::from_str(
            "id = \"corp\"\nname = \"Corp\"\nurl = \"ldaps://dc.example\"\nbind_dn = \"cn=x\"\nuser_base = \"dc=example\"\n",
        )
        .expect("source")];
        let profile =
            AwsProfile::from_settings(&settings.saml, &settings.sources, "https://b.example")
                .expect("profile");
        let local = profile
            .user_attributes(&person("bob-smith", "local"), &SessionShape::default())
            .expect("valid");
        let external = profile
            .user_attributes(&person("bob smith", "corp"), &SessionShape::default())
            .expect("valid");
        let sent = |a: &UserAttributes| {
            a.source_identity
                .as_ref()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default()
        };
        assert_eq!(sent(&local), "bob-smith");
        assert_ne!(sent(&external), sent(&local));
        assert!(sent(&external).ends_with("@corp"), "{}", sent(&external));
        let braces = profile
            .user_attributes(&person("z{email}", "local"), &SessionShape::default())
            .expect("valid");
        assert!(!sent(&braces).contains("admin"), "{}", sent(&braces));
    }
}
