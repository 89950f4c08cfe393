//! Layered configuration: `config/default.toml` < `config/<profile>.toml` < `FEDBROKER__SECTION__KEY`.
//!
//! The default file lists every setting, so anything not in it (in a profile file or in the
//! environment) is a typo and stops start-up with the key named, instead of silently being ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The configuration built into the binary; also the documentation of every key.
pub const EMBEDDED_DEFAULT: &str = include_str!("../config/default.toml");

/// Prefix of environment variables that override settings.
pub const ENV_PREFIX: &str = "FEDBROKER__";

/// Effective settings after all layers are merged and checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub session: SessionSettings,
    pub login: LoginSettings,
    pub admin: AdminSettings,
    pub demo: DemoSettings,
    pub saml: SamlSettings,
    pub regions: RegionSettings,
    pub sts: StsSettings,
    pub audit: AuditSettings,
    pub sources: SourcesSettings,
}

/// `[sources]`: identity sources beside the local directory, shown on the login page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesSettings {
    pub ldap: Vec<LdapSource>,
    pub oidc: Vec<OidcSource>,
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
            .collect()
    }

    /// Every suffix well-formed and none shared: the guarantee that two people never get the
    /// same RoleSessionName / SourceIdentity rests on it.
    fn check_session_name_suffixes(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        for (id, suffix) in self.session_name_suffixes() {
            let key = format!("sources `{id}` session_name_suffix");
            crate::domain::aws::check_session_suffix(&suffix).map_err(|m| {
                ConfigError::Invalid {
                    key: key.clone(),
                    message: format!("{m}; set session_name_suffix (the default is `@<id>`)"),
                }
            })?;
            if !seen.insert(suffix.to_ascii_lowercase()) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("`{suffix}` is used by another source; give each its own"),
                });
            }
        }
        Ok(())
    }
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSource {
    pub id: String,
    /// Shown on the "Sign in with …" button.
    pub name: String,
    /// The issuer URL; discovery is `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: secrecy::SecretString,
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
#[derive(Debug, Clone, Deserialize)]
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
    pub bind_password: secrecy::SecretString,
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
    #[serde(default = "none_value")]
    pub nested_groups: String,
    /// `cn` (the group's first RDN value) or `dn`.
    #[serde(default = "cn_attr")]
    pub group_name: String,
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
fn none_value() -> String {
    attr("none")
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub public_url: String,
    pub tls_cert: String,
    pub tls_key: String,
    pub allow_insecure_http: bool,
    /// Proxies whose `X-Forwarded-For` is believed (see `domain::client_addr`).
    pub trusted_proxies: Vec<crate::domain::client_addr::Cidr>,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[session]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub idle_timeout_secs: i64,
    pub absolute_timeout_secs: i64,
}

/// `[login]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    pub max_failures_per_user: i64,
    pub max_failures_per_address: i64,
    pub failure_window_secs: i64,
    /// Seconds between attempts of a client that failed, while its username is under attack.
    pub user_backoff_secs: i64,
    /// OIDC sign-ins one address may start within `failure_window_secs`.
    pub max_oidc_starts_per_address: i64,
}

/// `[admin]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub group: String,
    /// Whom people should ask for access: shown on the portal to someone without roles.
    pub contact: String,
}

/// `[demo]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    pub enabled: bool,
}

/// `[saml]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSettings {
    pub entity_id: String,
    pub partition: String,
    pub provider_name: String,
    pub assertion_validity_secs: i64,
    pub clock_skew_secs: i64,
    pub sign_response: bool,
    pub role_session_name: String,
    pub source_identity: String,
    pub session_duration_secs: i64,
    pub principal_tags: Vec<String>,
    pub transitive_tag_keys: Vec<String>,
    pub multi_role_chooser: bool,
    pub key_encryption_key: SecretString,
    pub key_encryption_key_file: String,
}

impl fmt::Debug for SamlSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamlSettings")
            .field("entity_id", &self.entity_id)
            .field("partition", &self.partition)
            .field("key_encryption_key", &"***")
            .finish_non_exhaustive()
    }
}

/// `[regions]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSettings {
    pub acs: Vec<String>,
    pub probe_interval_secs: u64,
    pub probe_timeout_secs: u64,
}

/// `[sts]`: CLI credentials and console federation URLs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StsSettings {
    pub endpoints: Vec<String>,
    pub federation: Vec<String>,
    pub attempt_timeout_secs: u64,
    pub connect_timeout_secs: u64,
    pub max_attempts: u32,
    pub down_for_secs: u64,
    pub api_token_max_days: i64,
}

/// `[audit]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    pub retention_days: i64,
}

/// Splits a `REGION` or `REGION=URL` list entry, checking both parts; `key` names the setting.
pub fn region_entry<'a>(
    key: &str,
    entry: &'a str,
) -> Result<(crate::domain::aws::Region, Option<&'a str>), ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: key.to_string(),
        message,
    };
    let (region, url) = match entry.split_once('=') {
        Some((r, u)) => (r, Some(u)),
        None => (entry, None),
    };
    let region =
        crate::domain::aws::Region::parse(region).map_err(|e| invalid(key, e.to_string()))?;
    if let Some(url) = url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(invalid(
                key,
                format!("`{entry}`: the URL after `=` must start with https://"),
            ));
        }
    }
    Ok((region, url))
}

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

/// A setting that is missing, unknown or wrong; the message names the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin} is not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error("unknown setting `{key}` (from {origin}); the settings that exist are listed in config/default.toml")]
    UnknownKey { key: String, origin: String },
    #[error("setting `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("profile `{profile}` was requested but {path} does not exist; create it or choose another profile")]
    MissingProfile { profile: String, path: PathBuf },
}

/// Where to find configuration files and which profile to apply.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// Folder holding `default.toml` and profile files; `./config` when `None`.
    pub dir: Option<PathBuf>,
    /// Profile name: `config/<profile>.toml` is merged over the defaults.
    pub profile: Option<String>,
}

impl Settings {
    /// Loads the layered configuration, taking overrides from the given environment.
    pub fn load<I>(source: &ConfigSource, env: I) -> Result<Settings, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let dir = source
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("config"));
        let default_path = dir.join("default.toml");
        let (default_text, default_origin) = match std::fs::read_to_string(&default_path) {
            Ok(text) => (text, default_path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                EMBEDDED_DEFAULT.to_string(),
                "built-in default.toml".to_string(),
            ),
            Err(e) => {
                return Err(ConfigError::Read {
                    path: default_path,
                    source: e,
                })
            }
        };
        let mut merged = parse_table(&default_text, &default_origin)?;

        if let Some(profile) = &source.profile {
            if profile.is_empty()
                || !profile
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::Invalid {
                    key: "profile".into(),
                    message: format!(
                        "`{profile}` is not a profile name; use letters, digits, '-' and '_'"
                    ),
                });
            }
            let path = dir.join(format!("{profile}.toml"));
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ConfigError::MissingProfile {
                        profile: profile.clone(),
                        path,
                    })
                }
                Err(e) => return Err(ConfigError::Read { path, source: e }),
            };
            let origin = path.display().to_string();
            let overlay = parse_table(&text, &origin)?;
            merge(&mut merged, overlay, "", &origin)?;
        }

        let mut overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        overrides.sort();
        for (name, raw) in overrides {
            apply_env(&mut merged, &name, &raw)?;
        }

        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(merged))
            .map_err(|e| ConfigError::Invalid {
                key: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        settings.check()?;
        Ok(settings)
    }

    /// Checks the rules that types alone cannot express.
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        let host: IpAddr = self.server.host.parse().map_err(|_| {
            invalid(
                "server.host",
                format!(
                    "`{}` is not an IP address; use e.g. 127.0.0.1, ::1 or 0.0.0.0",
                    self.server.host
                ),
            )
        })?;
        match (
            self.server.tls_cert.is_empty(),
            self.server.tls_key.is_empty(),
        ) {
            (false, true) => return Err(invalid(
                "server.tls_key",
                "server.tls_cert is set but server.tls_key is empty; set both PEM paths or neither"
                    .into(),
            )),
            (true, false) => return Err(invalid(
                "server.tls_cert",
                "server.tls_key is set but server.tls_cert is empty; set both PEM paths or neither"
                    .into(),
            )),
            _ => {}
        }
        if !self.tls_enabled() && !host.is_loopback() && !self.server.allow_insecure_http {
            return Err(invalid(
                "server.host",
                format!(
                    "{host} is not a loopback address and no TLS certificate is configured; \
                     set server.tls_cert and server.tls_key, or set server.allow_insecure_http = true \
                     if a TLS-terminating proxy sits in front"
                ),
            ));
        }
        if !self.server.public_url.is_empty() {
            let url = &self.server.public_url;
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.ends_with('/')
                && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
            if !ok {
                return Err(invalid(
                    "server.public_url",
                    format!("`{url}` must look like https://broker.example.com (scheme and host, no trailing slash)"),
                ));
            }
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                format!(
                    "`{}` is neither sqlite://PATH nor postgres://USER:PASSWORD@HOST/DB",
                    redact_url(url)
                ),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid(
                "database.max_connections",
                "must be at least 1".into(),
            ));
        }
        if self.session.idle_timeout_secs <= 0 {
            return Err(invalid(
                "session.idle_timeout_secs",
                "must be a positive number of seconds".into(),
            ));
        }
        if self.session.absolute_timeout_secs < self.session.idle_timeout_secs {
            return Err(invalid(
                "session.absolute_timeout_secs",
                "must be at least session.idle_timeout_secs".into(),
            ));
        }
        for (key, value) in [
            (
                "login.max_failures_per_user",
                self.login.max_failures_per_user,
            ),
            (
                "login.max_failures_per_address",
                self.login.max_failures_per_address,
            ),
            ("login.failure_window_secs", self.login.failure_window_secs),
            ("login.user_backoff_secs", self.login.user_backoff_secs),
            (
                "login.max_oidc_starts_per_address",
                self.login.max_oidc_starts_per_address,
            ),
        ] {
            if value <= 0 {
                return Err(invalid(key, "must be a positive number".into()));
            }
        }
        if self.admin.group.trim().is_empty() {
            return Err(invalid(
                "admin.group",
                "must name the local group whose members may administer fedbroker".into(),
            ));
        }
        self.check_saml()?;
        self.sources.check_session_name_suffixes()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| {
            invalid(
                "log.level",
                format!("`{}` is not a log filter: {e}", self.log.level),
            )
        })?;
        Ok(())
    }

    fn check_saml(&self) -> Result<(), ConfigError> {
        use crate::domain::aws::{Partition, SessionDuration};
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        let saml = &self.saml;
        Partition::parse(&saml.partition).map_err(|e| invalid("saml.partition", e.to_string()))?;
        if saml.provider_name.is_empty()
            || saml.provider_name.len() > 128
            || !saml
                .provider_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(invalid(
                "saml.provider_name",
                "must be the IAM SAML provider's name: 1-128 of A-Z a-z 0-9 _ . -".into(),
            ));
        }
        if !(60..=3600).contains(&saml.assertion_validity_secs) {
            return Err(invalid(
                "saml.assertion_validity_secs",
                "must be between 60 and 3600 seconds (300 is usual)".into(),
            ));
        }
        if !(0..=900).contains(&saml.clock_skew_secs) {
            return Err(invalid(
                "saml.clock_skew_secs",
                "must be between 0 and 900 seconds".into(),
            ));
        }
        SessionDuration::parse(saml.session_duration_secs)
            .map_err(|e| invalid("saml.session_duration_secs", e.to_string()))?;
        check_template(&saml.role_session_name)
            .map_err(|m| invalid("saml.role_session_name", m))?;
        if saml.role_session_name.trim().is_empty() {
            return Err(invalid(
                "saml.role_session_name",
                "must not be empty: AWS requires a RoleSessionName".into(),
            ));
        }
        check_template(&saml.source_identity).map_err(|m| invalid("saml.source_identity", m))?;
        for entry in &saml.principal_tags {
            let (key, template) = entry.split_once('=').ok_or_else(|| {
                invalid(
                    "saml.principal_tags",
                    format!("`{entry}` must look like \"Key={{template}}\""),
                )
            })?;
            if key.trim().is_empty() {
                return Err(invalid(
                    "saml.principal_tags",
                    format!("`{entry}` has an empty tag key"),
                ));
            }
            check_template(template).map_err(|m| invalid("saml.principal_tags", m))?;
        }
        for key in &saml.transitive_tag_keys {
            if !saml
                .principal_tags
                .iter()
                .any(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
            {
                return Err(invalid(
                    "saml.transitive_tag_keys",
                    format!("`{key}` is not a key of saml.principal_tags"),
                ));
            }
        }
        let kek = saml.key_encryption_key.expose_secret();
        if !kek.is_empty() {
            crate::saml::keys::parse_kek(kek).map_err(|m| invalid("saml.key_encryption_key", m))?;
        }
        if self.regions.acs.is_empty() {
            return Err(invalid(
                "regions.acs",
                "lists no sign-in Region; add at least one, e.g. [\"us-east-2\"]".into(),
            ));
        }
        for entry in &self.regions.acs {
            region_entry("regions.acs", entry)?;
        }
        if self.sts.endpoints.is_empty() {
            return Err(invalid(
                "sts.endpoints",
                "lists no STS Region; add at least one, e.g. [\"us-east-2\"]".into(),
            ));
        }
        for entry in &self.sts.endpoints {
            region_entry("sts.endpoints", entry)?;
        }
        for entry in &self.sts.federation {
            if !entry.contains('=') {
                return Err(invalid(
                    "sts.federation",
                    format!("`{entry}`: write REGION=URL (the default URL needs no entry)"),
                ));
            }
            region_entry("sts.federation", entry)?;
        }
        if self.sts.attempt_timeout_secs == 0
            || self.sts.connect_timeout_secs == 0
            || self.sts.max_attempts == 0
        {
            return Err(invalid(
                "sts.attempt_timeout_secs",
                "timeouts and max_attempts must be at least 1".into(),
            ));
        }
        if !(1..=3650).contains(&self.sts.api_token_max_days) {
            return Err(invalid(
                "sts.api_token_max_days",
                "must be 1 to 3650 days".into(),
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for o in &self.sources.oidc {
            if o.id.is_empty()
                || o.id == "local"
                || !o.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                || !ids.insert(o.id.clone())
            {
                return Err(invalid(
                    "sources.oidc",
                    format!(
                        "id `{}` must be unique, not `local`, and made of letters, digits and -",
                        o.id
                    ),
                ));
            }
            if !(o.issuer.starts_with("https://") || is_loopback_url(&o.issuer, "http")) {
                return Err(invalid(
                    &format!("sources.oidc `{}`", o.id),
                    format!("issuer `{}` must be an https:// URL", o.issuer),
                ));
            }
        }
        for l in &self.sources.ldap {
            let key = format!("sources.ldap `{}`", l.id);
            if l.id.is_empty()
                || l.id == "local"
                || !l.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                || !ids.insert(l.id.clone())
            {
                return Err(invalid(
                    "sources.ldap",
                    format!(
                        "id `{}` must be unique, not `local`, and made of letters, digits and -",
                        l.id
                    ),
                ));
            }
            if !(l.url.starts_with("ldap://") || l.url.starts_with("ldaps://")) {
                return Err(invalid(
                    &key,
                    format!("url `{}` must start with ldap:// or ldaps://", l.url),
                ));
            }
            if l.url.starts_with("ldap://") && !l.starttls && !is_loopback_url(&l.url, "ldap") {
                return Err(invalid(
                    &key,
                    "sends passwords in clear text: use ldaps:// or set starttls = true".into(),
                ));
            }
            if !l.user_filter.contains("{username}") {
                return Err(invalid(&key, "user_filter must contain {username}".into()));
            }
            if !["none", "in_chain", "recursive"].contains(&l.nested_groups.as_str()) {
                return Err(invalid(
                    &key,
                    "nested_groups is none, in_chain or recursive".into(),
                ));
            }
            if !["cn", "dn"].contains(&l.group_name.as_str()) {
                return Err(invalid(&key, "group_name is cn or dn".into()));
            }
        }
        if self.audit.retention_days < 1 {
            return Err(invalid(
                "audit.retention_days",
                "must be at least 1 day; audit events younger than this are never deleted".into(),
            ));
        }
        if self.regions.probe_interval_secs == 0 || self.regions.probe_timeout_secs == 0 {
            return Err(invalid(
                "regions.probe_interval_secs",
                "probe interval and timeout must be at least one second".into(),
            ));
        }
        Ok(())
    }

    /// Whether HTTPS is served directly.
    pub fn tls_enabled(&self) -> bool {
        !self.server.tls_cert.is_empty() && !self.server.tls_key.is_empty()
    }

    /// The effective configuration as TOML, with secrets redacted, for `check-config`.
    pub fn redacted_toml(&self) -> String {
        let mut out = String::new();
        let s = &self.server;
        out.push_str(&format!(
            "[server]\nhost = {:?}\nport = {}\npublic_url = {:?}\ntls_cert = {:?}\ntls_key = {:?}\n\
             allow_insecure_http = {}\ntrusted_proxies = {:?}\nworkers = {}\nshutdown_timeout_secs = {}\n\n",
            s.host, s.port, s.public_url, s.tls_cert, s.tls_key, s.allow_insecure_http,
            s.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>(),
            s.workers,
            s.shutdown_timeout_secs
        ));
        let d = &self.database;
        out.push_str(&format!(
            "[database]\nurl = {:?}\nmax_connections = {}\nacquire_timeout_secs = {}\n\n",
            redact_url(&d.url),
            d.max_connections,
            d.acquire_timeout_secs
        ));
        out.push_str(&format!(
            "[log]\nformat = {:?}\nlevel = {:?}\n\n",
            match self.log.format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            },
            self.log.level
        ));
        out.push_str(&format!(
            "[session]\nidle_timeout_secs = {}\nabsolute_timeout_secs = {}\n\n",
            self.session.idle_timeout_secs, self.session.absolute_timeout_secs
        ));
        let l = &self.login;
        out.push_str(&format!(
            "[login]\nmax_failures_per_user = {}\nmax_failures_per_address = {}\nfailure_window_secs = {}\n\
             user_backoff_secs = {}\nmax_oidc_starts_per_address = {}\n\n",
            l.max_failures_per_user,
            l.max_failures_per_address,
            l.failure_window_secs,
            l.user_backoff_secs,
            l.max_oidc_starts_per_address
        ));
        out.push_str(&format!(
            "[admin]\ngroup = {:?}\ncontact = {:?}\n\n",
            self.admin.group, self.admin.contact
        ));
        out.push_str(&format!("[demo]\nenabled = {}\n\n", self.demo.enabled));
        let m = &self.saml;
        out.push_str(&format!(
            "[saml]\nentity_id = {:?}\npartition = {:?}\nprovider_name = {:?}\nassertion_validity_secs = {}\n\
             clock_skew_secs = {}\nsign_response = {}\nrole_session_name = {:?}\nsource_identity = {:?}\n\
             session_duration_secs = {}\nprincipal_tags = {:?}\ntransitive_tag_keys = {:?}\n\
             multi_role_chooser = {}\nkey_encryption_key = {:?}\nkey_encryption_key_file = {:?}\n\n",
            m.entity_id, m.partition, m.provider_name, m.assertion_validity_secs, m.clock_skew_secs,
            m.sign_response, m.role_session_name, m.source_identity, m.session_duration_secs,
            m.principal_tags, m.transitive_tag_keys, m.multi_role_chooser,
            if m.key_encryption_key.expose_secret().is_empty() { "" } else { "***" },
            m.key_encryption_key_file
        ));
        let r = &self.regions;
        out.push_str(&format!(
            "[regions]\nacs = {:?}\nprobe_interval_secs = {}\nprobe_timeout_secs = {}\n\n",
            r.acs, r.probe_interval_secs, r.probe_timeout_secs
        ));
        let t = &self.sts;
        out.push_str(&format!(
            "[sts]\nendpoints = {:?}\nfederation = {:?}\nattempt_timeout_secs = {}\nconnect_timeout_secs = {}\n\
             max_attempts = {}\ndown_for_secs = {}\napi_token_max_days = {}\n\n",
            t.endpoints, t.federation, t.attempt_timeout_secs, t.connect_timeout_secs, t.max_attempts,
            t.down_for_secs, t.api_token_max_days
        ));
        out.push_str(&format!(
            "[audit]\nretention_days = {}\n\n",
            self.audit.retention_days
        ));
        out.push_str("[sources]\n");
        for l in &self.sources.ldap {
            out.push_str(&format!(
                "# ldap `{}` ({}): {} bind_dn = {:?} bind_password = {}\n",
                l.id,
                l.name,
                l.url,
                l.bind_dn,
                if l.bind_password.expose_secret().is_empty() {
                    "(empty)"
                } else {
                    "***"
                }
            ));
        }
        out
    }
}

/// Whether `url` is a `scheme://` URL whose host is a loopback address or exactly `localhost`.
///
/// The host is parsed, not matched as text: `http://127.0.0.1.evil.example` and
/// `ldap://localhost.evil.example` are names anyone can point anywhere, and must not pass.
pub fn is_loopback_url(url: &str, scheme: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if parsed.scheme() != scheme {
        return false;
    }
    match parsed.host() {
        // Non-special schemes such as ldap:// leave an IPv4 address as an opaque host name.
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

type Table = toml::map::Map<String, toml::Value>;

fn parse_table(text: &str, origin: &str) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|e| ConfigError::Syntax {
        origin: origin.to_string(),
        message: e.to_string(),
    })
}

/// Merges `overlay` into `base`; every key must already exist in `base`.
fn merge(base: &mut Table, overlay: Table, prefix: &str, origin: &str) -> Result<(), ConfigError> {
    for (key, value) in overlay {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o, &path, origin)?,
            (Some(toml::Value::Table(_)), _) => {
                return Err(ConfigError::Invalid {
                    key: path,
                    message: format!("is a section, but {origin} gives it a value"),
                })
            }
            (Some(slot), value) => *slot = value,
            (None, _) => {
                return Err(ConfigError::UnknownKey {
                    key: path,
                    origin: origin.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// Applies one `FEDBROKER__SECTION__KEY=value`, typed like the setting it replaces.
fn apply_env(base: &mut Table, name: &str, raw: &str) -> Result<(), ConfigError> {
    let path: Vec<String> = name[ENV_PREFIX.len()..]
        .split("__")
        .map(|p| p.to_ascii_lowercase())
        .collect();
    let dotted = path.join(".");
    let unknown = || ConfigError::UnknownKey {
        key: dotted.clone(),
        origin: format!("environment variable {name}"),
    };
    let (last, sections) = path.split_last().ok_or_else(unknown)?;
    let mut table = &mut *base;
    for section in sections {
        match table.get_mut(section) {
            Some(toml::Value::Table(t)) => table = t,
            _ => return Err(unknown()),
        }
    }
    let slot = table.get_mut(last).ok_or_else(unknown)?;
    let bad = |expected: &str| ConfigError::Invalid {
        key: dotted.clone(),
        message: format!("environment variable {name} must be {expected}, not `{raw}`"),
    };
    let value = match &*slot {
        toml::Value::String(_) => toml::Value::String(raw.to_string()),
        toml::Value::Integer(_) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| bad("a whole number"))?)
        }
        toml::Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(bad("true or false")),
        },
        toml::Value::Float(_) => {
            toml::Value::Float(raw.trim().parse().map_err(|_| bad("a number"))?)
        }
        toml::Value::Table(_) => return Err(bad("a key inside this section, not the section")),
        toml::Value::Array(_) => {
            // Lists are written as TOML arrays: FEDBROKER__REGIONS__ACS='["us-east-2","us-west-2"]'.
            let parsed: BTreeMap<String, toml::Value> = toml::from_str(&format!("v = {raw}"))
                .map_err(|_| bad("a TOML list such as [\"a\", \"b\"]"))?;
            parsed.into_values().next().ok_or_else(|| bad("a list"))?
        }
        other => {
            let parsed: BTreeMap<String, toml::Value> = toml::from_str(&format!("v = {raw}"))
                .map_err(|_| bad(&format!("a TOML value like the default {other}")))?;
            parsed.into_values().next().ok_or_else(|| bad("a value"))?
        }
    };
    *slot = value;
    Ok(())
}

pub use crate::store::{prepare_sqlite_path, redact_url, DatabaseSettings};

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let source = ConfigSource {
            dir: Some(PathBuf::from("/nonexistent-config-dir")),
            profile: None,
        };
        Settings::load(
            &source,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn loopback_urls_are_recognised_by_their_parsed_host() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost/x",
            "http://[::1]:9000",
            "ldap://127.0.0.1:389",
            "ldap://localhost",
            "ldap://[::1]:389",
        ] {
            let scheme = ok.split(':').next().expect("scheme");
            assert!(is_loopback_url(ok, scheme), "{ok}");
        }
        for bad in [
            ("http://127.0.0.1.evil.example", "http"),
            ("http://localhost.evil.example", "http"),
            ("http://localhostevil.example", "http"),
            ("http://evil.example/127.0.0.1", "http"),
            ("http://127.0.0.1@evil.example", "http"),
            ("ldap://localhost.evil.example", "ldap"),
            ("ldap://127.0.0.1.evil.example:389", "ldap"),
            ("ldap://evil.example/?x=://127.0.0.1", "ldap"),
            ("ldaps://localhost", "ldap"),
            ("not a url", "http"),
        ] {
            assert!(!is_loopback_url(bad.0, bad.1), "{bad:?}");
        }
    }

    #[test]
    fn session_name_suffixes_are_checked_and_unique() {
        let mut s = load(&[]).expect("defaults load");
        let ldap = |id: &str, suffix: Option<&str>| {
            let mut source: LdapSource = toml::from_str(&format!(
                "id = \"{id}\"\nname = \"x\"\nurl = \"ldaps://dc.example\"\nbind_dn = \"cn=x\"\nuser_base = \"dc=x\"\n"
            ))
            .expect("source");
            source.session_name_suffix = suffix.map(str::to_string);
            source
        };
        s.sources.ldap = vec![ldap("corp", None), ldap("other", Some("@o"))];
        assert!(s.check().is_ok());
        assert_eq!(
            s.sources.session_name_suffixes(),
            vec![
                ("corp".into(), "@corp".into()),
                ("other".into(), "@o".into())
            ]
        );
        s.sources.ldap = vec![ldap("corp", None), ldap("other", Some("@CORP"))];
        let e = s.check().expect_err("shared suffix").to_string();
        assert!(e.contains("used by another source"), "{e}");
        s.sources.ldap = vec![ldap("corp", Some("corp"))];
        let e = s.check().expect_err("no @").to_string();
        assert!(
            e.contains("session_name_suffix") && e.contains("must be `@`"),
            "{e}"
        );
        s.sources.ldap = vec![ldap(&"a".repeat(40), None)];
        let e = s.check().expect_err("long id").to_string();
        assert!(e.contains("set session_name_suffix"), "{e}");
    }

    #[test]
    fn built_in_defaults_are_valid() {
        let s = load(&[]).expect("defaults load");
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.database.url, "sqlite://data/fedbroker.db");
        assert!(!s.tls_enabled());
    }

    #[test]
    fn environment_overrides_are_typed_like_the_default() {
        let s = load(&[
            ("FEDBROKER__SERVER__PORT", "9000"),
            ("FEDBROKER__LOG__FORMAT", "json"),
            ("FEDBROKER__DEMO__ENABLED", "true"),
        ])
        .expect("loads");
        assert_eq!(s.server.port, 9000);
        assert_eq!(s.log.format, LogFormat::Json);
        assert!(s.demo.enabled);
    }

    #[test]
    fn unknown_environment_key_is_named() {
        let err = load(&[("FEDBROKER__SERVER__PROT", "9000")]).expect_err("refused");
        assert!(err.to_string().contains("server.prot"), "{err}");
        assert!(err.to_string().contains("FEDBROKER__SERVER__PROT"), "{err}");
    }

    #[test]
    fn non_numeric_port_is_refused_with_the_key() {
        let err = load(&[("FEDBROKER__SERVER__PORT", "eighty")]).expect_err("refused");
        assert!(err.to_string().contains("server.port"), "{err}");
        assert!(err.to_string().contains("whole number"), "{err}");
    }

    #[test]
    fn out_of_range_port_is_refused_with_the_key() {
        let err = load(&[("FEDBROKER__SERVER__PORT", "70000")]).expect_err("refused");
        assert!(err.to_string().contains("server.port"), "{err}");
    }

    #[test]
    fn plain_http_on_a_public_address_is_refused() {
        let err = load(&[("FEDBROKER__SERVER__HOST", "0.0.0.0")]).expect_err("refused");
        let msg = err.to_string();
        assert!(
            msg.contains("server.host") && msg.contains("tls_cert"),
            "{msg}"
        );
        let ok = load(&[
            ("FEDBROKER__SERVER__HOST", "0.0.0.0"),
            ("FEDBROKER__SERVER__ALLOW_INSECURE_HTTP", "true"),
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn half_configured_tls_is_refused() {
        let err = load(&[("FEDBROKER__SERVER__TLS_CERT", "/etc/cert.pem")]).expect_err("refused");
        assert!(err.to_string().contains("server.tls_key"), "{err}");
    }

    #[test]
    fn unknown_log_format_is_refused() {
        let err = load(&[("FEDBROKER__LOG__FORMAT", "xml")]).expect_err("refused");
        assert!(err.to_string().contains("log.format"), "{err}");
    }

    #[test]
    fn database_password_is_redacted() {
        assert_eq!(
            redact_url("postgres://fed:hunter2@db:5432/fed"),
            "postgres://fed:***@db:5432/fed"
        );
        let s =
            load(&[("FEDBROKER__DATABASE__URL", "postgres://fed:hunter2@db/fed")]).expect("loads");
        assert!(!s.redacted_toml().contains("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn profile_files_must_only_name_known_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("bad.toml"), "[server]\nprot = 1\n").expect("write");
        let source = ConfigSource {
            dir: Some(dir.path().to_path_buf()),
            profile: Some("bad".into()),
        };
        let err = Settings::load(&source, Vec::new()).expect_err("refused");
        assert!(err.to_string().contains("server.prot"), "{err}");
        let missing = ConfigSource {
            dir: Some(dir.path().to_path_buf()),
            profile: Some("nope".into()),
        };
        let err = Settings::load(&missing, Vec::new()).expect_err("refused");
        assert!(err.to_string().contains("nope.toml"), "{err}");
    }

    #[test]
    fn saml_settings_are_checked() {
        for (var, value, key) in [
            ("FEDBROKER__SAML__PARTITION", "aws-moon", "saml.partition"),
            (
                "FEDBROKER__SAML__ROLE_SESSION_NAME",
                "{user}",
                "saml.role_session_name",
            ),
            (
                "FEDBROKER__SAML__SESSION_DURATION_SECS",
                "60",
                "saml.session_duration_secs",
            ),
            (
                "FEDBROKER__SAML__PRINCIPAL_TAGS",
                "[\"NoEquals\"]",
                "saml.principal_tags",
            ),
            (
                "FEDBROKER__SAML__TRANSITIVE_TAG_KEYS",
                "[\"Team\"]",
                "saml.transitive_tag_keys",
            ),
            (
                "FEDBROKER__SAML__KEY_ENCRYPTION_KEY",
                "short",
                "saml.key_encryption_key",
            ),
            (
                "FEDBROKER__REGIONS__ACS",
                "[\"us-east-2\", \"mars-1\"]",
                "regions.acs",
            ),
            ("FEDBROKER__REGIONS__ACS", "[]", "regions.acs"),
        ] {
            let err = load(&[(var, value)]).expect_err("refused");
            assert!(err.to_string().contains(key), "{var}={value}: {err}");
        }
        let ok = load(&[(
            "FEDBROKER__REGIONS__ACS",
            "[\"us-east-2=http://127.0.0.1:9/saml\", \"us-west-2\"]",
        )])
        .expect("loads");
        assert_eq!(ok.regions.acs.len(), 2);
    }

    #[test]
    fn the_key_encryption_key_is_redacted() {
        let kek = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        let s = load(&[("FEDBROKER__SAML__KEY_ENCRYPTION_KEY", kek)]).expect("loads");
        assert!(!s.redacted_toml().contains(kek));
        assert!(!format!("{s:?}").contains(kek));
    }

    #[test]
    fn shipped_demo_profile_loads() {
        let source = ConfigSource {
            dir: Some(PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/config"
            ))),
            profile: Some("demo".into()),
        };
        let s = Settings::load(&source, Vec::new()).expect("demo profile loads");
        assert!(s.demo.enabled);
    }
}
