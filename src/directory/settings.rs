//! `[sources]`: the identity sources beside the local directory (`[[sources.ldap]]`,
//! `[[sources.oidc]]`, `[[sources.saml]]`), as the configuration describes them.

use serde::{Deserialize, Serialize};

use crate::domain::secret::Secret;

/// `[sources]`: identity sources beside the local directory, shown on the login page.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesSettings {
    pub ldap: Vec<LdapSource>,
    pub oidc: Vec<OidcSource>,
    #[serde(default)]
    pub saml: Vec<SamlSource>,
}

impl SourcesSettings {
    /// (source id, session name suffix) of every source: the configured suffix or `@<id>`.
    pub fn session_name_suffixes(&self) -> Vec<(String, String)> {
        let pick = |id: &str, suffix: &Option<String>| {
            (
                id.to_string(),
                suffix.clone().unwrap_or_else(|| format!("@{id}")),
            )
        };
        self.ldap
            .iter()
            .map(|l| pick(&l.id, &l.session_name_suffix))
            .chain(
                self.oidc
                    .iter()
                    .map(|o| pick(&o.id, &o.session_name_suffix)),
            )
            .chain(
                self.saml
                    .iter()
                    .map(|s| pick(&s.id, &s.session_name_suffix)),
            )
            .collect()
    }

    /// Every suffix well-formed and none shared: the guarantee that two people never get the
    /// same RoleSessionName / SourceIdentity rests on it. The error is (setting, message).
    pub fn check_session_name_suffixes(&self) -> Result<(), (String, String)> {
        let mut seen = std::collections::BTreeSet::new();
        for (id, suffix) in self.session_name_suffixes() {
            let key = format!("sources `{id}` session_name_suffix");
            crate::domain::aws::check_session_suffix(&suffix).map_err(|m| {
                (
                    key.clone(),
                    format!("{m}; set session_name_suffix (the default is `@<id>`)"),
                )
            })?;
            if !seen.insert(suffix.to_ascii_lowercase()) {
                return Err((
                    key,
                    format!("`{suffix}` is used by another source; give each its own"),
                ));
            }
        }
        Ok(())
    }
}

/// Where the attribute names of a SAML source default from: the conventions of common
/// identity providers (each can still be set one by one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SamlPreset {
    /// NameID as username; `email`, `displayName`, `groups` (Okta's and SimpleSAMLphp's usual
    /// attribute statements).
    #[default]
    Generic,
    /// AD FS claim types: UPN, emailaddress, name, group claims.
    Adfs,
    /// Entra ID enterprise apps: name (UPN), emailaddress, displayname, groups.
    Entra,
    /// Okta: NameID, `email`, `displayName`, `groups` (a group attribute statement).
    Okta,
    /// Shibboleth / eduPerson OIDs: uid, mail, displayName, isMemberOf.
    Shibboleth,
}

const CLAIMS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/";
const MS_GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";

impl SamlPreset {
    /// (username, email, display name, groups) attribute names; username "" means the NameID.
    pub fn attributes(self) -> (String, String, String, String) {
        let s = |x: &str| x.to_string();
        match self {
            SamlPreset::Generic | SamlPreset::Okta => {
                (s(""), s("email"), s("displayName"), s("groups"))
            }
            SamlPreset::Adfs => (
                format!("{CLAIMS}upn"),
                format!("{CLAIMS}emailaddress"),
                format!("{CLAIMS}name"),
                s(MS_GROUPS),
            ),
            SamlPreset::Entra => (
                format!("{CLAIMS}name"),
                format!("{CLAIMS}emailaddress"),
                s("http://schemas.microsoft.com/identity/claims/displayname"),
                s(MS_GROUPS),
            ),
            SamlPreset::Shibboleth => (
                s("urn:oid:0.9.2342.19200300.100.1.1"),
                s("urn:oid:0.9.2342.19200300.100.1.3"),
                s("urn:oid:2.16.840.1.113730.3.1.241"),
                s("urn:oid:1.3.6.1.4.1.5923.1.5.1.1"),
            ),
        }
    }
}

/// One upstream SAML identity provider (`[[sources.saml]]`): the broker is its service provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSource {
    pub id: String,
    /// Shown on the "Sign in with …" button.
    pub name: String,
    /// The identity provider's metadata, fetched and refreshed (https, or http on loopback).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub metadata_url: String,
    /// Or read from a file at start-up; exactly one of the two.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub metadata_file: String,
    /// How long fetched metadata is used before it is fetched again (it is also fetched once
    /// more when a response is signed by a key it does not list, e.g. after a key rotation).
    #[serde(default = "default_metadata_refresh")]
    pub metadata_refresh_secs: u64,
    /// SHA-256 fingerprints (hex, colons allowed) of the only signing certificates to trust
    /// from the metadata; empty: every signing certificate it lists.
    #[serde(default)]
    pub pinned_fingerprints: Vec<String>,
    #[serde(default)]
    pub preset: SamlPreset,
    /// Attribute names (`Name` or `FriendlyName`); unset: the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name_attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_attribute: Option<String>,
    /// Other attributes kept for `{attr:NAME}` in templates.
    #[serde(default)]
    pub extra_attributes: Vec<String>,
    /// Accept responses that answer no request of this broker (sign-in started at the
    /// identity provider's portal). Off: only answers to this browser's own request count.
    #[serde(default)]
    pub allow_idp_initiated: bool,
    /// Sign AuthnRequests with the broker's active key.
    #[serde(default)]
    pub sign_authn_requests: bool,
    /// Refuse assertions that arrive unencrypted.
    #[serde(default)]
    pub want_assertions_encrypted: bool,
    #[serde(default = "default_saml_skew")]
    pub allowed_clock_skew_secs: i64,
    /// Accept RSA-SHA1 signatures and SHA-1 digests (old AD FS relying-party trusts).
    #[serde(default)]
    pub allow_sha1: bool,
    /// Only members of this group may sign in (empty: anyone the provider vouches for).
    #[serde(default)]
    pub required_group: String,
    /// As for the other sources: default `@<id>`.
    #[serde(default)]
    pub session_name_suffix: Option<String>,
    /// A group of this provider whose members are broker admins (empty: none).
    #[serde(default)]
    pub admin_group: String,
    /// API tokens of this provider's people stop working this long after their last sign-in
    /// in the browser (the broker cannot ask a SAML provider about a person).
    #[serde(default = "default_reauth_after")]
    pub reauth_after_secs: u64,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl SamlSource {
    /// (username, email, display name, groups) attribute names in effect.
    pub fn attribute_names(&self) -> (String, String, String, String) {
        let (u, e, n, g) = self.preset.attributes();
        (
            self.username_attribute.clone().unwrap_or(u),
            self.email_attribute.clone().unwrap_or(e),
            self.display_name_attribute.clone().unwrap_or(n),
            self.groups_attribute.clone().unwrap_or(g),
        )
    }
}

fn default_metadata_refresh() -> u64 {
    3600
}
fn default_saml_skew() -> i64 {
    120
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}
fn preferred_username() -> String {
    attr("preferred_username")
}
fn groups_claim() -> String {
    attr("groups")
}
fn email_claim() -> String {
    attr("email")
}
fn name_claim() -> String {
    attr("name")
}

/// One upstream OpenID Provider (`[[sources.oidc]]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSource {
    pub id: String,
    /// Shown on the "Sign in with …" button.
    pub name: String,
    /// The issuer URL; discovery is `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Secret,
    /// A file holding the client secret instead (a mounted secret); not both.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret_file: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Claim paths (dotted for nested objects, e.g. `realm_access.roles`).
    #[serde(default = "preferred_username")]
    pub username_claim: String,
    #[serde(default = "groups_claim")]
    pub groups_claim: String,
    #[serde(default = "email_claim")]
    pub email_claim: String,
    #[serde(default = "name_claim")]
    pub name_claim: String,
    /// Only e-mail addresses at these domains may sign in (empty: any).
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Only members of this group may sign in (empty: anyone the provider vouches for).
    #[serde(default)]
    pub required_group: String,
    /// Other claims (paths) kept as attributes for `{attr:NAME}` in templates.
    #[serde(default)]
    pub extra_claims: Vec<String>,
    /// Appended to RoleSessionName and SourceIdentity of people from this source (default
    /// `@<id>`), so nobody here can take a local user's or another source's name in CloudTrail.
    #[serde(default)]
    pub session_name_suffix: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// A group of this provider whose members are broker admins (empty: none). Admin rights
    /// otherwise come only from the local admin group, so a provider cannot make admins by
    /// sending a group of the same name.
    #[serde(default)]
    pub admin_group: String,
    /// Let `allowed_domains` gate on an `email` the provider did not mark `email_verified`, for
    /// providers that never send that claim. Off: an unverified address proves no domain.
    #[serde(default)]
    pub trust_unverified_email: bool,
    /// API tokens of this provider's people stop working this long after their last sign-in in
    /// the browser, since the broker cannot ask the provider about them without it.
    #[serde(default = "default_reauth_after")]
    pub reauth_after_secs: u64,
}

fn default_reauth_after() -> u64 {
    12 * 3600
}
fn default_probe_cache() -> u64 {
    30
}

fn default_timeout() -> u64 {
    5
}
fn default_user_filter() -> String {
    "(uid={username})".into()
}
fn default_group_filter() -> String {
    "(objectClass=groupOfNames)".into()
}
fn attr(name: &str) -> String {
    name.to_string()
}

/// One LDAP or Active Directory source (`[[sources.ldap]]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSource {
    /// Short id, used in forms and stored with the users it provisions.
    pub id: String,
    /// Shown on the login page.
    pub name: String,
    /// `ldap://host:389` (with `starttls`) or `ldaps://host:636`.
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    /// PEM CA bundle to verify the server with (empty: the system's roots).
    #[serde(default)]
    pub ca_file: String,
    pub bind_dn: String,
    #[serde(default)]
    pub bind_password: Secret,
    /// A file holding the bind password instead (a mounted secret); not both.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bind_password_file: String,
    pub user_base: String,
    /// `{username}` is replaced by the RFC 4515-escaped username.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    #[serde(default = "uid_attr")]
    pub username_attribute: String,
    #[serde(default = "mail_attr")]
    pub email_attribute: String,
    #[serde(default = "cn_attr")]
    pub display_name_attribute: String,
    /// Empty: groups come from the user's `memberOf`. Else: a search here for groups listing
    /// the user in `member_attribute`.
    #[serde(default)]
    pub group_base: String,
    #[serde(default = "default_group_filter")]
    pub group_filter: String,
    #[serde(default = "member_attr")]
    pub member_attribute: String,
    /// `none`, `in_chain` (Active Directory's LDAP_MATCHING_RULE_IN_CHAIN) or `recursive` (a
    /// client-side walk, for servers without it).
    #[serde(default)]
    pub nested_groups: NestedGroups,
    /// `cn` (the group's first RDN value) or `dn`.
    #[serde(default)]
    pub group_name: GroupNaming,
    /// Other attributes to read (usable in templates later).
    #[serde(default)]
    pub extra_attributes: Vec<String>,
    /// Appended to RoleSessionName and SourceIdentity of people from this source (default
    /// `@<id>`), so nobody here can take a local user's or another source's name in CloudTrail.
    #[serde(default)]
    pub session_name_suffix: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// A group of this directory (as named by `group_name`) whose members are broker admins
    /// (empty: none); otherwise only the local admin group makes admins.
    #[serde(default)]
    pub admin_group: String,
    /// `/readyz` reuses the last check of this directory for this many seconds, so that
    /// unauthenticated callers cannot make the broker bind to the directory at will.
    #[serde(default = "default_probe_cache")]
    pub probe_cache_secs: u64,
}

fn uid_attr() -> String {
    attr("uid")
}
fn mail_attr() -> String {
    attr("mail")
}
fn cn_attr() -> String {
    attr("cn")
}
fn member_attr() -> String {
    attr("member")
}

/// How nested groups are followed (`nested_groups`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NestedGroups {
    /// Only direct memberships.
    #[default]
    None,
    /// Active Directory's LDAP_MATCHING_RULE_IN_CHAIN, resolved by the server.
    InChain,
    /// A client-side walk, for servers without it.
    Recursive,
}

/// How a group is named (`group_name`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupNaming {
    /// The value of the group's first RDN.
    #[default]
    Cn,
    /// The whole distinguished name.
    Dn,
}
