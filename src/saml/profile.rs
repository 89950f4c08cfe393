//! The per-user attributes of an AWS assertion, from the `[saml]` templates.

use crate::config::Settings;
use crate::directory::Identity;
use crate::domain::aws::{
    sanitize_session_text, AwsRuleError, Partition, RoleSessionName, SessionDuration, SessionTags,
    SourceIdentity,
};

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
}

/// The attributes computed for one user.
#[derive(Debug, Clone)]
pub struct UserAttributes {
    pub session_name: RoleSessionName,
    pub source_identity: Option<SourceIdentity>,
    pub tags: SessionTags,
}

/// Fills `{username}`, `{email}`, `{display_name}` and `{attr:NAME}` (an attribute the
/// identity source gave; empty when it gave none) from an identity. Checked at start-up.
pub fn render_template(template: &str, identity: &Identity) -> String {
    let mut out = template
        .replace("{username}", &identity.username)
        .replace("{email}", &identity.email)
        .replace("{display_name}", &identity.display_name);
    let mut from = 0;
    while let Some(start) = out[from..].find("{attr:").map(|i| i + from) {
        let Some(len) = out[start..].find('}') else {
            break;
        };
        let name = out[start + 6..start + len].to_string();
        let value = identity.attributes.get(&name).cloned().unwrap_or_default();
        out.replace_range(start..=start + len, &value);
        // Never re-read inserted text: an attribute value cannot inject another placeholder.
        from = start + value.len();
    }
    out
}

impl AwsProfile {
    /// Reads `[saml]`; `public_url` gives the default entityID.
    pub fn from_settings(settings: &Settings, public_url: &str) -> anyhow::Result<AwsProfile> {
        let s = &settings.saml;
        Ok(AwsProfile {
            entity_id: if s.entity_id.is_empty() {
                format!("{public_url}/saml/metadata")
            } else {
                s.entity_id.clone()
            },
            partition: Partition::parse(&s.partition)?,
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
        })
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

    /// What sanitising changes for this person: `attribute: raw → sent`, one line each, for
    /// the dry run (AWS would have refused the raw values).
    pub fn rewrites(&self, identity: &Identity) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |attribute: &str, template: &str| {
            if template.is_empty() {
                return;
            }
            let raw = render_template(template, identity);
            let sent = sanitize_session_text(&raw);
            if raw != sent {
                out.push(format!(
                    "{attribute}: `{raw}` is sent as `{sent}` (AWS allows 2-64 of A-Z a-z 0-9 + = , . @ _ -)"
                ));
            }
        };
        check("RoleSessionName", &self.role_session_name);
        check("SourceIdentity", &self.source_identity);
        out
    }

    /// Computes the user's attributes. RoleSessionName and SourceIdentity are sanitised to AWS's
    /// alphabet (never refused); tags are checked and every violation is reported.
    pub fn user_attributes(
        &self,
        identity: &Identity,
    ) -> Result<UserAttributes, Vec<AwsRuleError>> {
        let name = sanitize_session_text(&render_template(&self.role_session_name, identity));
        let session_name = RoleSessionName::parse(&name).map_err(|e| vec![e])?;
        let source_identity = if self.source_identity.is_empty() {
            None
        } else {
            let raw = sanitize_session_text(&render_template(&self.source_identity, identity));
            Some(SourceIdentity::parse(&raw).map_err(|e| vec![e])?)
        };
        let tags = SessionTags::parse(
            self.tags
                .iter()
                .map(|(k, t)| (k.clone(), render_template(t, identity)))
                .collect(),
            self.transitive.clone(),
        )?;
        Ok(UserAttributes {
            session_name,
            source_identity,
            tags,
        })
    }
}
