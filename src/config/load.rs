//! Reading the layers: `config/default.toml` (or the built-in copy), a profile file, then
//! `FEDBROKER__SECTION__KEY` variables, each typed like the setting it replaces; then secrets
//! given as files are read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{ConfigError, ConfigSource, Settings, EMBEDDED_DEFAULT, ENV_PREFIX};
use crate::domain::secret::Secret;

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

        let mut settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(merged))
            .map_err(|e| ConfigError::Invalid {
            key: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
        settings.read_secret_files()?;
        settings.check()?;
        Ok(settings)
    }

    /// Reads each `*_file` secret of the sources into its secret (a mounted secret file, trailing
    /// newline dropped); the value and the file both set is an error naming both.
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        for l in &mut self.sources.ldap {
            let key = format!("sources.ldap `{}` bind_password", l.id);
            read_secret_file(&key, &mut l.bind_password, &l.bind_password_file)?;
        }
        for o in &mut self.sources.oidc {
            let key = format!("sources.oidc `{}` client_secret", o.id);
            read_secret_file(&key, &mut o.client_secret, &o.client_secret_file)?;
        }
        read_secret_file(
            "saml.previous_key_encryption_key",
            &mut self.saml.previous_key_encryption_key,
            &self.saml.previous_key_encryption_key_file,
        )?;
        read_secret_file(
            "metrics.token",
            &mut self.metrics.token,
            &self.metrics.token_file,
        )?;
        if !self.saml.key_encryption_key.is_empty() && !self.saml.key_encryption_key_file.is_empty()
        {
            return Err(ConfigError::Invalid {
                key: "saml.key_encryption_key".into(),
                message: "is set and so is saml.key_encryption_key_file; keep one".into(),
            });
        }
        Ok(())
    }
}

fn read_secret_file(key: &str, secret: &mut Secret, file: &str) -> Result<(), ConfigError> {
    if file.is_empty() {
        return Ok(());
    }
    if !secret.is_empty() {
        return Err(ConfigError::Invalid {
            key: key.to_string(),
            message: format!("is set and so is {key}_file; keep one"),
        });
    }
    let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Invalid {
        key: format!("{key}_file"),
        message: format!("cannot read `{file}`: {e}"),
    })?;
    *secret = Secret::new(text.trim_end_matches(['\r', '\n']).to_string());
    Ok(())
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
    let mut in_source = false;
    let mut i = 0;
    while i < sections.len() {
        let section = &sections[i];
        match table.get_mut(section) {
            Some(toml::Value::Table(t)) => table = t,
            // `[[sources.ldap]]` / `[[sources.oidc]]` entries are named by their id:
            // FEDBROKER__SOURCES__OIDC__<ID>__CLIENT_SECRET (id upper-cased, `-` as `_`).
            Some(toml::Value::Array(entries)) if sections.len() > i + 1 => {
                let id = &sections[i + 1];
                table = entries
                    .iter_mut()
                    .filter_map(|e| match e {
                        toml::Value::Table(t) => Some(t),
                        _ => None,
                    })
                    .find(|t| {
                        t.get("id")
                            .and_then(toml::Value::as_str)
                            .is_some_and(|v| v.to_ascii_lowercase().replace('-', "_") == *id)
                    })
                    .ok_or_else(unknown)?;
                in_source = true;
                i += 1;
            }
            _ => return Err(unknown()),
        }
        i += 1;
    }
    // A source's optional setting need not be in its file; it is then read as text, and the
    // source's own type says whether that fits.
    if in_source && !table.contains_key(last.as_str()) {
        table.insert(last.clone(), toml::Value::String(raw.to_string()));
        return Ok(());
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
