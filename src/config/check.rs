//! The rules that types alone cannot express, each failure naming the setting and the fix.

use super::{redact_url, ConfigError, Settings};
use crate::mapping::session::check_template;

impl Settings {
    /// Checks the rules that types alone cannot express.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        self.check_listeners()?;
        self.check_files()?;
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
        self.sources
            .check_session_name_suffixes()
            .map_err(|(key, message)| ConfigError::Invalid { key, message })?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| {
            invalid(
                "log.level",
                format!("`{}` is not a log filter: {e}", self.log.level),
            )
        })?;
        Ok(())
    }

    /// Every file a setting names exists and can be read now, so that a start cannot fail
    /// half-way on a missing certificate or key file.
    fn check_files(&self) -> Result<(), ConfigError> {
        let mut files = vec![
            ("server.tls_cert", self.server.tls_cert.as_str()),
            ("server.tls_key", self.server.tls_key.as_str()),
            (
                "saml.key_encryption_key_file",
                self.saml.key_encryption_key_file.as_str(),
            ),
            (
                "saml.previous_key_encryption_key_file",
                self.saml.previous_key_encryption_key_file.as_str(),
            ),
        ];
        let ldap_keys: Vec<(String, &str)> = self
            .sources
            .ldap
            .iter()
            .map(|l| {
                (
                    format!("sources.ldap `{}` ca_file", l.id),
                    l.ca_file.as_str(),
                )
            })
            .chain(self.sources.saml.iter().map(|s| {
                (
                    format!("sources.saml `{}` metadata_file", s.id),
                    s.metadata_file.as_str(),
                )
            }))
            .collect();
        files.extend(ldap_keys.iter().map(|(k, f)| (k.as_str(), *f)));
        for (key, path) in files {
            if path.is_empty() {
                continue;
            }
            if let Err(e) = std::fs::File::open(path) {
                return Err(ConfigError::Invalid {
                    key: key.to_string(),
                    message: format!(
                        "cannot read `{path}`: {e}; fix the path or the file's permissions"
                    ),
                });
            }
        }
        Ok(())
    }

    fn check_saml(&self) -> Result<(), ConfigError> {
        use crate::domain::aws::SessionDuration;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        let saml = &self.saml;
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
            if key.trim().to_ascii_lowercase().starts_with("aws:") {
                return Err(invalid(
                    "saml.principal_tags",
                    format!(
                        "`{entry}`: AWS reserves tag keys starting with `aws:`; choose another key"
                    ),
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
        let kek = saml.key_encryption_key.expose();
        if !kek.is_empty() {
            crate::saml::keys::parse_kek(kek).map_err(|m| invalid("saml.key_encryption_key", m))?;
        }
        let previous = saml.previous_key_encryption_key.expose();
        if !previous.is_empty() {
            crate::saml::keys::parse_kek(previous)
                .map_err(|m| invalid("saml.previous_key_encryption_key", m))?;
            if kek.is_empty() && saml.key_encryption_key_file.is_empty() {
                return Err(invalid(
                    "saml.previous_key_encryption_key",
                    "is set but saml.key_encryption_key is not: a rotation needs the new key \
                     as saml.key_encryption_key (or _file) and the old one here"
                        .into(),
                ));
            }
        }
        if kek.is_empty()
            && saml.key_encryption_key_file.is_empty()
            && !self.database.url.starts_with("sqlite:")
        {
            return Err(invalid(
                "saml.key_encryption_key",
                "is required with PostgreSQL: every instance must decrypt the same signing keys. \
                 Generate one with `openssl rand -base64 32` and give it to every instance as \
                 FEDBROKER__SAML__KEY_ENCRYPTION_KEY or saml.key_encryption_key_file"
                    .into(),
            ));
        }
        if !(saml.entity_id.is_empty()
            || url::Url::parse(&saml.entity_id).is_ok_and(|u| !u.scheme().is_empty()))
        {
            return Err(invalid(
                "saml.entity_id",
                format!(
                    "`{}` is not an absolute URI; use a URL such as https://broker.example.com/saml/metadata \
                     or leave it empty for <public URL>/saml/metadata",
                    saml.entity_id
                ),
            ));
        }
        for (key, entries) in [
            ("regions.acs", &self.regions.acs),
            ("sts.endpoints", &self.sts.endpoints),
            ("sts.federation", &self.sts.federation),
        ] {
            let mut seen = std::collections::BTreeSet::new();
            for entry in entries {
                saml.partition
                    .check_region(&entry.region)
                    .map_err(|m| invalid(key, m))?;
                if !seen.insert(entry.region.as_str()) {
                    return Err(invalid(
                        key,
                        format!("`{}` is listed twice; list each Region once", entry.region),
                    ));
                }
            }
        }
        if self.regions.acs.is_empty() {
            return Err(invalid(
                "regions.acs",
                "lists no sign-in Region; add at least one, e.g. [\"us-east-2\"]".into(),
            ));
        }
        if self.sts.endpoints.is_empty() {
            return Err(invalid(
                "sts.endpoints",
                "lists no STS Region; add at least one, e.g. [\"us-east-2\"]".into(),
            ));
        }
        for entry in &self.sts.federation {
            if entry.url.is_none() {
                return Err(invalid(
                    "sts.federation",
                    format!("`{entry}`: write REGION=URL (the default URL needs no entry)"),
                ));
            }
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
        for src in &self.sources.saml {
            let key = format!("sources.saml `{}`", src.id);
            if src.id.is_empty()
                || src.id == "local"
                || !src
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                || !ids.insert(src.id.clone())
            {
                return Err(invalid(
                    "sources.saml",
                    format!(
                        "id `{}` must be unique, not `local`, and made of letters, digits and -",
                        src.id
                    ),
                ));
            }
            match (src.metadata_url.is_empty(), src.metadata_file.is_empty()) {
                (true, true) | (false, false) => {
                    return Err(invalid(
                        &key,
                        "set exactly one of metadata_url and metadata_file".into(),
                    ))
                }
                (false, true)
                    if !(src.metadata_url.starts_with("https://")
                        || is_loopback_url(&src.metadata_url, "http")) =>
                {
                    return Err(invalid(
                        &key,
                        format!(
                            "metadata_url `{}` must be an https:// URL (the metadata decides which keys are trusted)",
                            src.metadata_url
                        ),
                    ))
                }
                _ => {}
            }
            if !(0..=600).contains(&src.allowed_clock_skew_secs) {
                return Err(invalid(
                    &key,
                    "allowed_clock_skew_secs must be 0 to 600".into(),
                ));
            }
            if src.metadata_refresh_secs < 60 {
                return Err(invalid(
                    &key,
                    "metadata_refresh_secs must be at least 60".into(),
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
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
