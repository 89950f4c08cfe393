//! Layered configuration: `config/default.toml` < `config/<profile>.toml` < `FEDBROKER__SECTION__KEY`.
//!
//! The default file lists every setting, so anything not in it (in a profile file or in the
//! environment) is a typo and stops start-up with the key named, instead of silently being ignored.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod check;
mod listeners;
mod load;

pub use crate::mapping::session::{check_template, TEMPLATE_FIELDS};
pub use check::is_loopback_url;

/// The configuration built into the binary; also the documentation of every key.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/default.toml");

/// Prefix of environment variables that override settings.
pub const ENV_PREFIX: &str = "FEDBROKER__";

/// Effective settings after all layers are merged and checked.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    pub metrics: MetricsSettings,
    pub sources: SourcesSettings,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// Seconds `/readyz` answers "draining" after SIGTERM before the listener closes.
    pub drain_secs: u64,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[session]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub idle_timeout_secs: i64,
    pub absolute_timeout_secs: i64,
}

/// `[admin]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub group: String,
    /// Whom people should ask for access: shown on the portal to someone without roles.
    pub contact: String,
}

/// `[demo]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    pub enabled: bool,
}

/// `[audit]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    pub retention_days: i64,
}

/// `[metrics]`: who may read `/metrics`. It tells an outsider which Regions are down and how
/// many sign-ins fail, so it is not open on the public listener: either a listener of its own
/// (an address only the monitoring network reaches) or a bearer token, or both.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// `HOST:PORT` of a listener that serves only `/metrics`, without a token.
    pub listen: String,
    /// A bearer token that opens `/metrics` on the public listener.
    pub token: crate::domain::secret::Secret,
    pub token_file: String,
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
    /// The URL people use: `server.public_url`, or the one the listener on `port` implies
    /// (the server passes its bound port; commands pass the configured one, so that what they
    /// print, e.g. `rules test --xml`, names the same issuer as the server).
    pub fn base_url(&self, port: u16) -> String {
        if !self.server.public_url.is_empty() {
            return self.server.public_url.clone();
        }
        let scheme = if self.tls_enabled() { "https" } else { "http" };
        let host = if self.server.host.contains(':') {
            format!("[{}]", self.server.host)
        } else if self.server.host == "127.0.0.1" {
            "localhost".to_string()
        } else {
            self.server.host.clone()
        };
        format!("{scheme}://{host}:{port}")
    }

    /// Whether HTTPS is served directly.
    pub fn tls_enabled(&self) -> bool {
        !self.server.tls_cert.is_empty() && !self.server.tls_key.is_empty()
    }

    /// The effective configuration as TOML, for `check-config`: serialised from the typed
    /// settings, in which every secret is a [`Secret`](crate::domain::secret::Secret) that
    /// prints `***` and the database URL shows no password, so nothing can be forgotten.
    pub fn redacted_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print the settings: {e}\n"))
    }
}

pub use crate::auth::limiter::LoginSettings;
pub use crate::aws::regions::RegionSettings;
pub use crate::aws::sts::StsSettings;
pub use crate::directory::settings::{
    GroupNaming, LdapSource, NestedGroups, OidcSource, SamlPreset, SamlSource, SourcesSettings,
};
pub use crate::saml::settings::SamlSettings;
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
        let err = load(&[
            ("FEDBROKER__SERVER__HOST", "0.0.0.0"),
            ("FEDBROKER__SERVER__ALLOW_INSECURE_HTTP", "true"),
        ])
        .expect_err("the URL people use is required off loopback");
        assert!(err.to_string().contains("server.public_url"), "{err}");
        let ok = load(&[
            ("FEDBROKER__SERVER__HOST", "0.0.0.0"),
            ("FEDBROKER__SERVER__ALLOW_INSECURE_HTTP", "true"),
            (
                "FEDBROKER__SERVER__PUBLIC_URL",
                "https://broker.example.com",
            ),
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
        let s = load(&[
            ("FEDBROKER__DATABASE__URL", "postgres://fed:hunter2@db/fed"),
            (
                "FEDBROKER__SAML__KEY_ENCRYPTION_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            ),
        ])
        .expect("loads");
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

    /// Loads the built-in defaults with a profile holding one LDAP and one OIDC source.
    fn load_with_sources(extra: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("default.toml"), EMBEDDED_DEFAULT).expect("default");
        let profile = format!(
            "[[sources.ldap]]\nid = \"corp-ad\"\nname = \"Corp\"\nurl = \"ldaps://ad.example.com\"\n\
             bind_dn = \"cn=svc\"\nuser_base = \"dc=example\"\nnested_groups = \"in_chain\"\n{extra}\n\
             [[sources.oidc]]\nid = \"entra\"\nname = \"Entra\"\nissuer = \"https://login.example.com\"\n\
             client_id = \"fedbroker\"\n"
        );
        std::fs::write(dir.path().join("corp.toml"), profile).expect("profile");
        let source = ConfigSource {
            dir: Some(dir.path().to_path_buf()),
            profile: Some("corp".into()),
        };
        Settings::load(
            &source,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn source_secrets_come_from_the_environment_or_a_file_and_are_never_printed() {
        let s = load_with_sources(
            "bind_password = \"ldap-secret-1\"",
            &[(
                "FEDBROKER__SOURCES__OIDC__ENTRA__CLIENT_SECRET",
                "oidc-secret-2",
            )],
        )
        .expect("loads");
        assert_eq!(s.sources.ldap[0].bind_password.expose(), "ldap-secret-1");
        assert_eq!(s.sources.oidc[0].client_secret.expose(), "oidc-secret-2");
        assert_eq!(s.sources.ldap[0].nested_groups, NestedGroups::InChain);
        let printed = s.redacted_toml();
        for secret in ["ldap-secret-1", "oidc-secret-2"] {
            assert!(!printed.contains(secret), "{printed}");
            assert!(!format!("{s:?}").contains(secret));
        }
        assert!(
            printed.contains("corp-ad") && printed.contains("entra"),
            "{printed}"
        );
        assert!(printed.contains("bind_password = \"***\""), "{printed}");

        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("bind-password");
        std::fs::write(&file, "from-a-file\n").expect("secret file");
        let extra = format!("bind_password_file = {:?}", file.display().to_string());
        let s = load_with_sources(&extra, &[]).expect("loads");
        assert_eq!(s.sources.ldap[0].bind_password.expose(), "from-a-file");
        let both = format!("{extra}\nbind_password = \"inline\"");
        let e = load_with_sources(&both, &[]).expect_err("both").to_string();
        assert!(e.contains("bind_password") && e.contains("keep one"), "{e}");
    }

    #[test]
    fn typed_settings_refuse_unknown_values_naming_the_key() {
        let e = load_with_sources("group_name = \"uid\"", &[])
            .expect_err("unknown")
            .to_string();
        assert!(e.contains("group_name") && e.contains("cn"), "{e}");
        let e = load(&[("FEDBROKER__SAML__PARTITION", "aws-mars")])
            .expect_err("unknown partition")
            .to_string();
        assert!(e.contains("saml.partition"), "{e}");
        let e = load(&[("FEDBROKER__REGIONS__ACS", "[\"us-eats-1x\"]")])
            .expect_err("bad Region")
            .to_string();
        assert!(e.contains("regions.acs"), "{e}");
        let e = load(&[("FEDBROKER__SOURCES__OIDC__NOBODY__CLIENT_SECRET", "x")])
            .expect_err("no such source")
            .to_string();
        assert!(e.contains("sources.oidc.nobody"), "{e}");
    }

    fn load_saml(source: &str) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("default.toml"), EMBEDDED_DEFAULT).expect("default");
        std::fs::write(
            dir.path().join("corp.toml"),
            format!("[[sources.saml]]\nid = \"adfs\"\nname = \"Corp\"\n{source}\n"),
        )
        .expect("profile");
        let source = ConfigSource {
            dir: Some(dir.path().to_path_buf()),
            profile: Some("corp".into()),
        };
        Settings::load(&source, Vec::<(String, String)>::new())
    }

    #[test]
    fn saml_sources_are_checked_and_their_presets_name_the_attributes() {
        let s = load_saml("metadata_url = \"https://adfs.example.com/md.xml\"\npreset = \"adfs\"")
            .expect("valid");
        let (user, _, _, groups) = s.sources.saml[0].attribute_names();
        assert!(user.ends_with("/claims/upn"), "{user}");
        assert!(groups.ends_with("/claims/groups"), "{groups}");
        let printed = toml::to_string(&s).expect("prints");
        assert!(
            printed.contains("[[sources.saml]]") && printed.contains("adfs.example.com"),
            "{printed}"
        );
        for (bad, says) in [
            ("", "exactly one of metadata_url and metadata_file"),
            (
                "metadata_url = \"https://a/x\"\nmetadata_file = \"/etc/hostname\"",
                "exactly one",
            ),
            (
                "metadata_url = \"http://adfs.example.com/md.xml\"",
                "https://",
            ),
            (
                "metadata_file = \"/etc/hostname\"\nallowed_clock_skew_secs = 3600",
                "0 to 600",
            ),
            ("metadata_file = \"/x.xml\"\npreset = \"ping\"", "preset"),
        ] {
            let e = load_saml(bad).expect_err(bad).to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
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
