//! LDAP / Active Directory sign-in: service-account bind, user search (the username escaped per
//! RFC 4515), a bind as the user to check the password, then groups from `memberOf` or a group
//! search, optionally nested.
//!
//! Every operation has a timeout; a directory that cannot be reached is reported as such and
//! never as a wrong password. An empty password is refused before any bind: a simple bind with
//! an empty password is an *unauthenticated* bind that many servers accept.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3::{ldap_escape, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use super::settings::{GroupNaming, LdapSource, NestedGroups};

/// A person as an external source describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalUser {
    /// Stable id within the source (the entry's DN here).
    pub subject: String,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub groups: Vec<String>,
    pub attributes: BTreeMap<String, String>,
}

/// Why an LDAP sign-in failed. Unknown user and wrong password are one case on purpose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapError {
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("a password is required")]
    EmptyPassword,
    #[error("the directory `{source_name}` cannot be reached: {reason}")]
    Unreachable { source_name: String, reason: String },
    #[error("the directory `{source_name}` refused the service account or the search: {reason}")]
    Misconfigured { source_name: String, reason: String },
}

/// One configured LDAP source.
pub struct LdapDirectory {
    pub settings: LdapSource,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The last known health (when, up?), from a probe or a sign-in, for `/readyz`.
    health: std::sync::Mutex<Option<(Instant, bool)>>,
    /// Held while a probe runs, so that concurrent readiness checks share one bind.
    probing: tokio::sync::Mutex<()>,
}

/// `ldap3`'s result code for invalid credentials.
const INVALID_CREDENTIALS: u32 = 49;
/// Active Directory's LDAP_MATCHING_RULE_IN_CHAIN.
const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// How deep a client-side nested-group walk goes.
const MAX_NESTING: usize = 10;

impl LdapDirectory {
    /// Reads the CA bundle (if any) once.
    pub fn new(settings: LdapSource) -> anyhow::Result<LdapDirectory> {
        let tls = if settings.ca_file.is_empty() {
            None
        } else {
            let pem = std::fs::read(&settings.ca_file).map_err(|e| {
                anyhow::anyhow!(
                    "sources.ldap `{}`: cannot read ca_file {}: {e}",
                    settings.id,
                    settings.ca_file
                )
            })?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots.add(cert?)?;
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Some(Arc::new(config))
        };
        Ok(LdapDirectory {
            settings,
            tls,
            health: std::sync::Mutex::new(None),
            probing: tokio::sync::Mutex::new(()),
        })
    }

    /// Remembers what the last contact with the directory showed.
    fn note_health(&self, up: bool) {
        if let Ok(mut h) = self.health.lock() {
            *h = Some((Instant::now(), up));
        }
    }

    /// The last known health if it is younger than `probe_cache_secs`.
    fn fresh_health(&self) -> Option<bool> {
        let max_age = Duration::from_secs(self.settings.probe_cache_secs);
        self.health
            .lock()
            .ok()
            .and_then(|h| *h)
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, up)| up)
    }

    /// Whether the directory answers, for `/readyz`: the last probe or sign-in if recent, else a
    /// new probe (one at a time). Unauthenticated callers thus cannot make the broker bind to the
    /// directory at will, and the directory's error text goes only to the log.
    pub async fn is_up(&self) -> bool {
        if let Some(up) = self.fresh_health() {
            return up;
        }
        let _one_at_a_time = self.probing.lock().await;
        if let Some(up) = self.fresh_health() {
            return up;
        }
        let up = match self.probe().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(source = %self.settings.id, error = %e, "LDAP readiness probe failed");
                false
            }
        };
        self.note_health(up);
        up
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> LdapError {
        LdapError::Unreachable {
            source_name: self.settings.name.clone(),
            reason: e.to_string(),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_secs.max(1))
    }

    async fn connect(&self) -> Result<ldap3::Ldap, LdapError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout())
            .set_starttls(self.settings.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.settings.url)
            .await
            .map_err(|e| self.unreachable(e))?;
        ldap3::drive!(conn);
        Ok(ldap)
    }

    /// Connects and binds as the service account.
    async fn service(&self) -> Result<ldap3::Ldap, LdapError> {
        let mut ldap = self.connect().await?;
        let result = ldap
            .with_timeout(self.timeout())
            .simple_bind(&self.settings.bind_dn, self.settings.bind_password.expose())
            .await
            .map_err(|e| self.unreachable(e))?;
        if result.rc != 0 {
            return Err(LdapError::Misconfigured {
                source_name: self.settings.name.clone(),
                reason: format!("service bind answered {} {}", result.rc, result.text),
            });
        }
        Ok(ldap)
    }

    /// Checks that the directory answers and the service account binds (for `/readyz`).
    pub async fn probe(&self) -> Result<(), LdapError> {
        let mut ldap = self.service().await?;
        let _ = ldap.unbind().await;
        Ok(())
    }

    async fn search(
        &self,
        ldap: &mut ldap3::Ldap,
        base: &str,
        filter: &str,
        attrs: Vec<&str>,
    ) -> Result<Vec<SearchEntry>, LdapError> {
        let result = ldap
            .with_timeout(self.timeout())
            .search(base, Scope::Subtree, filter, attrs)
            .await
            .map_err(|e| self.unreachable(e))?;
        let (entries, outcome) = (result.0, result.1);
        // 32: noSuchObject (an empty base) is "nothing found", not a failure.
        if outcome.rc != 0 && outcome.rc != 32 {
            return Err(LdapError::Misconfigured {
                source_name: self.settings.name.clone(),
                reason: format!(
                    "search in `{base}` answered {} {}",
                    outcome.rc, outcome.text
                ),
            });
        }
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    /// Signs a person in and reads their groups.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<ExternalUser, LdapError> {
        let result = self.authenticate_inner(username, password).await;
        match &result {
            Ok(_) | Err(LdapError::WrongCredentials) => self.note_health(true),
            Err(LdapError::Unreachable { .. } | LdapError::Misconfigured { .. }) => {
                self.note_health(false)
            }
            Err(LdapError::EmptyPassword) => {}
        }
        result
    }

    fn user_attrs(&self) -> Vec<&str> {
        let s = &self.settings;
        let mut attrs = vec![
            s.username_attribute.as_str(),
            s.email_attribute.as_str(),
            s.display_name_attribute.as_str(),
            "memberOf",
        ];
        attrs.extend(s.extra_attributes.iter().map(String::as_str));
        attrs
    }

    /// Binds as `dn` with `password` on a connection of its own; `Ok(true)` when accepted.
    async fn user_bind(&self, dn: &str, password: &str) -> Result<bool, LdapError> {
        let mut user_conn = self.connect().await?;
        let bind = user_conn
            .with_timeout(self.timeout())
            .simple_bind(dn, password)
            .await
            .map_err(|e| self.unreachable(e))?;
        let _ = user_conn.unbind().await;
        match bind.rc {
            0 => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            rc => Err(self.unreachable(format!("user bind answered {rc} {}", bind.text))),
        }
    }

    async fn authenticate_inner(
        &self,
        username: &str,
        password: &str,
    ) -> Result<ExternalUser, LdapError> {
        if password.is_empty() {
            return Err(LdapError::EmptyPassword);
        }
        let username = username.trim();
        if username.is_empty() || username.chars().count() > 256 {
            return Err(LdapError::WrongCredentials);
        }
        let s = &self.settings;
        let mut ldap = self.service().await?;
        let filter = s.user_filter.replace("{username}", &ldap_escape(username));
        let mut found = self
            .search(&mut ldap, &s.user_base, &filter, self.user_attrs())
            .await?;
        if found.len() != 1 {
            // None, or ambiguous: both look like a wrong password to the person signing in.
            // A bind still happens, as a name that cannot exist, so that an unknown username
            // takes as long as a wrong password and timing does not tell who exists.
            let _ = ldap.unbind().await;
            let nobody = format!(
                "cn=fedbroker-nobody-{},{}",
                uuid::Uuid::new_v4().simple(),
                s.user_base
            );
            let _ = self.user_bind(&nobody, password).await;
            return Err(LdapError::WrongCredentials);
        }
        let entry = found.remove(0);

        // The password is checked by binding as the user, on a connection of its own.
        match self.user_bind(&entry.dn, password).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = ldap.unbind().await;
                return Err(LdapError::WrongCredentials);
            }
            Err(e) => {
                let _ = ldap.unbind().await;
                return Err(e);
            }
        }
        let person = self.person(&mut ldap, &entry, username).await;
        let _ = ldap.unbind().await;
        person
    }

    /// The person an entry describes, with their groups.
    async fn person(
        &self,
        ldap: &mut ldap3::Ldap,
        entry: &SearchEntry,
        typed: &str,
    ) -> Result<ExternalUser, LdapError> {
        let s = &self.settings;
        let first = |attr: &str| {
            entry
                .attrs
                .get(attr)
                .and_then(|v| v.first())
                .cloned()
                .unwrap_or_default()
        };
        let group_dns = self.group_dns(ldap, entry).await?;
        let groups = group_dns
            .iter()
            .map(|dn| self.group_name(dn))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(ExternalUser {
            subject: entry.dn.clone(),
            username: Some(first(&s.username_attribute))
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| typed.to_string()),
            email: first(&s.email_attribute),
            display_name: first(&s.display_name_attribute),
            groups,
            attributes: s
                .extra_attributes
                .iter()
                .map(|a| (a.clone(), first(a)))
                .collect(),
        })
    }

    /// Looks a known person up again with the service account (no password), for an API token
    /// used long after the sign-in: `None` when the entry is gone or no longer matches
    /// `user_filter` (its name part matches any value, since the DN already pins the entry).
    pub async fn recheck(&self, subject: &str) -> Result<Option<ExternalUser>, LdapError> {
        let result = self.recheck_inner(subject).await;
        match &result {
            Ok(_) => self.note_health(true),
            Err(_) => self.note_health(false),
        }
        result
    }

    async fn recheck_inner(&self, subject: &str) -> Result<Option<ExternalUser>, LdapError> {
        let s = &self.settings;
        let mut ldap = self.service().await?;
        let filter = s.user_filter.replace("{username}", "*");
        let result = ldap
            .with_timeout(self.timeout())
            .search(subject, Scope::Base, &filter, self.user_attrs())
            .await
            .map_err(|e| self.unreachable(e))?;
        let (entries, outcome) = (result.0, result.1);
        // 32: noSuchObject, the entry was deleted.
        if outcome.rc != 0 && outcome.rc != 32 {
            let _ = ldap.unbind().await;
            return Err(LdapError::Misconfigured {
                source_name: s.name.clone(),
                reason: format!(
                    "search of `{subject}` answered {} {}",
                    outcome.rc, outcome.text
                ),
            });
        }
        let Some(entry) = entries.into_iter().next().map(SearchEntry::construct) else {
            let _ = ldap.unbind().await;
            return Ok(None);
        };
        let person = self.person(&mut ldap, &entry, "").await;
        let _ = ldap.unbind().await;
        person.map(Some)
    }

    /// The DNs of the user's groups: `memberOf`, or a group search; nested as configured.
    async fn group_dns(
        &self,
        ldap: &mut ldap3::Ldap,
        user: &SearchEntry,
    ) -> Result<BTreeSet<String>, LdapError> {
        let s = &self.settings;
        let direct: BTreeSet<String> = if s.group_base.is_empty() {
            user.attrs
                .get("memberOf")
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect()
        } else {
            let rule = if s.nested_groups == NestedGroups::InChain {
                format!(":{IN_CHAIN}:")
            } else {
                String::new()
            };
            let filter = format!(
                "(&{}({}{rule}={}))",
                s.group_filter,
                s.member_attribute,
                ldap_escape(&user.dn)
            );
            self.search(ldap, &s.group_base, &filter, vec!["1.1"])
                .await?
                .into_iter()
                .map(|e| e.dn)
                .collect()
        };
        if s.nested_groups != NestedGroups::Recursive || s.group_base.is_empty() {
            return Ok(direct);
        }
        // Client-side walk for servers without the in-chain rule (OpenLDAP): groups that list
        // a group we have as a member, breadth first, at most MAX_NESTING levels.
        let mut all = direct.clone();
        let mut queue: VecDeque<(String, usize)> = direct.into_iter().map(|d| (d, 1)).collect();
        while let Some((dn, depth)) = queue.pop_front() {
            if depth >= MAX_NESTING {
                continue;
            }
            let filter = format!(
                "(&{}({}={}))",
                s.group_filter,
                s.member_attribute,
                ldap_escape(&dn)
            );
            for parent in self
                .search(ldap, &s.group_base, &filter, vec!["1.1"])
                .await?
            {
                if all.insert(parent.dn.clone()) {
                    queue.push_back((parent.dn, depth + 1));
                }
            }
        }
        Ok(all)
    }

    /// A group's name: its full DN, or the value of its first RDN (`cn`).
    fn group_name(&self, dn: &str) -> String {
        if self.settings.group_name == GroupNaming::Dn {
            return dn.to_string();
        }
        dn.split(',')
            .next()
            .and_then(|rdn| rdn.split_once('='))
            .map(|(_, v)| v.replace("\\,", ",").trim().to_string())
            .unwrap_or_else(|| dn.to_string())
    }
}
