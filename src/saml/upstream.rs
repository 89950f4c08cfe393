//! One upstream SAML identity provider as the broker uses it (`[[sources.saml]]`): its
//! metadata (read from a file, or fetched and refreshed), the sign-in request sent to it, and
//! its answer turned into a person, after every check of [`super::sp::verify`] and the replay
//! cache that all instances share.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use openssl::pkey::{PKey, Private};

use super::sign::XmlSigner;
use super::sp::idp_metadata::{self, IdpMetadata};
use super::sp::request::{authn_request, logout_request, new_id, redirect_url};
use super::sp::sp_metadata::{sp_metadata, SpDescription};
use super::sp::verify::{verify_response, Expected, IdpTrust, Refusal, Verified};
use crate::directory::ldap::ExternalUser;
use crate::directory::settings::SamlSource;
use crate::store::{Store, StoreError};

/// A forced metadata refresh (after a response signed by an unknown key) happens at most this
/// often, so unsigned junk cannot make the broker hammer the identity provider.
const FORCED_REFRESH_GAP_SECS: i64 = 60;

const TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// Why a SAML sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the metadata of {provider} is not available: {reason}")]
    Metadata { provider: String, reason: String },
    #[error("the answer of {provider} was refused: {refusal}")]
    Refused { provider: String, refusal: Refusal },
    #[error("{0}")]
    NotAllowed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl UpstreamError {
    /// The short reason code kept in the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            UpstreamError::Metadata { .. } => "metadata",
            UpstreamError::Refused { refusal, .. } => refusal.code(),
            UpstreamError::NotAllowed(_) => "not_allowed",
            UpstreamError::Store(_) => "store",
            UpstreamError::Internal(_) => "internal",
        }
    }
}

/// Metadata in use and when it was read.
pub struct Loaded {
    pub metadata: IdpMetadata,
    pub fetched_at: i64,
}

/// What the admin page shows about a source (kept per instance).
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub last_success: Option<i64>,
    pub last_refusal: Option<(i64, String)>,
    pub metadata_error: Option<String>,
}

/// A sign-in request on its way to the identity provider.
pub struct Started {
    pub request_id: String,
    pub url: String,
}

/// The identity provider and the broker's service-provider side toward it.
pub struct UpstreamIdp {
    pub settings: SamlSource,
    /// `<public URL>/saml/sp/<id>`.
    pub sp_entity_id: String,
    pub acs_url: String,
    pub slo_url: String,
    http: reqwest::Client,
    loaded: RwLock<Option<Arc<Loaded>>>,
    refreshing: tokio::sync::Mutex<i64>,
    status: Mutex<Status>,
}

impl UpstreamIdp {
    /// Builds a source; metadata from a file is read (and must be usable) now, fetched
    /// metadata at first use.
    pub fn new(settings: SamlSource, public_url: &str, now: i64) -> anyhow::Result<Self> {
        let base = format!(
            "{}/saml/sp/{}",
            public_url.trim_end_matches('/'),
            settings.id
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let idp = UpstreamIdp {
            sp_entity_id: base.clone(),
            acs_url: format!("{base}/acs"),
            slo_url: format!("{base}/slo"),
            http,
            loaded: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(i64::MIN),
            status: Mutex::new(Status::default()),
            settings,
        };
        if !idp.settings.metadata_file.is_empty() {
            let text = std::fs::read_to_string(&idp.settings.metadata_file).map_err(|e| {
                anyhow::anyhow!(
                    "sources.saml `{}`: cannot read metadata_file {}: {e}",
                    idp.settings.id,
                    idp.settings.metadata_file
                )
            })?;
            let metadata = idp_metadata::parse(&text, &idp.settings.pinned_fingerprints)
                .map_err(|e| anyhow::anyhow!("sources.saml `{}`: {e}", idp.settings.id))?;
            idp.put(metadata, now);
        }
        Ok(idp)
    }

    fn put(&self, metadata: IdpMetadata, now: i64) -> Arc<Loaded> {
        let loaded = Arc::new(Loaded {
            metadata,
            fetched_at: now,
        });
        if let Ok(mut l) = self.loaded.write() {
            *l = Some(loaded.clone());
        }
        loaded
    }

    fn current(&self) -> Option<Arc<Loaded>> {
        self.loaded.read().ok().and_then(|l| l.clone())
    }

    fn metadata_error(&self, reason: String) -> UpstreamError {
        if let Ok(mut s) = self.status.lock() {
            s.metadata_error = Some(reason.clone());
        }
        UpstreamError::Metadata {
            provider: self.settings.name.clone(),
            reason,
        }
    }

    /// The metadata to use now: fetched again when older than `metadata_refresh_secs` (a
    /// fetch that fails keeps the copy in hand and says so on the admin page).
    pub async fn metadata(&self, now: i64) -> Result<Arc<Loaded>, UpstreamError> {
        let current = self.current();
        if self.settings.metadata_url.is_empty() {
            return current.ok_or_else(|| self.metadata_error("not loaded".into()));
        }
        let max_age = i64::try_from(self.settings.metadata_refresh_secs).unwrap_or(i64::MAX);
        match current {
            Some(c) if now.saturating_sub(c.fetched_at) < max_age => Ok(c),
            stale => match self.fetch(now).await {
                Ok(fresh) => Ok(fresh),
                Err(e) => stale.ok_or(e),
            },
        }
    }

    async fn fetch(&self, now: i64) -> Result<Arc<Loaded>, UpstreamError> {
        let url = &self.settings.metadata_url;
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| self.metadata_error(format!("fetching {url} failed: {e}")))?;
        let text = answer
            .text()
            .await
            .map_err(|e| self.metadata_error(format!("reading {url} failed: {e}")))?;
        let metadata = idp_metadata::parse(&text, &self.settings.pinned_fingerprints)
            .map_err(|e| self.metadata_error(e))?;
        if let Ok(mut s) = self.status.lock() {
            s.metadata_error = None;
        }
        tracing::info!(source = %self.settings.id, certificates = metadata.certificates.len(), "fetched SAML metadata");
        Ok(self.put(metadata, now))
    }

    /// Fetches the metadata again after a response signed by an unknown key, at most once a
    /// minute; `true` when a fresh copy was fetched.
    async fn forced_refresh(&self, now: i64) -> bool {
        if self.settings.metadata_url.is_empty() {
            return false;
        }
        let mut last = self.refreshing.lock().await;
        if now.saturating_sub(*last) < FORCED_REFRESH_GAP_SECS {
            return false;
        }
        *last = now;
        self.fetch(now).await.is_ok()
    }

    /// The sign-in request to send the browser to, signed with `signer` when configured.
    pub async fn start(
        &self,
        signer: Option<&XmlSigner>,
        now: i64,
    ) -> Result<Started, UpstreamError> {
        let loaded = self.metadata(now).await?;
        let request_id = new_id();
        let sso = &loaded.metadata.sso_url;
        let xml = authn_request(&request_id, &self.sp_entity_id, &self.acs_url, sso, now);
        let signer = signer.filter(|_| self.settings.sign_authn_requests);
        let url = redirect_url(sso, &xml, None, signer.map(|s| move |b: &[u8]| s.sign(b)))
            .map_err(|e| UpstreamError::Internal(e.to_string()))?;
        Ok(Started { request_id, url })
    }

    /// The single-logout URL for a person's session at the identity provider, when it offers
    /// single logout.
    pub async fn logout_url(
        &self,
        name_id: &str,
        name_id_format: &str,
        session_index: Option<&str>,
        signer: Option<&XmlSigner>,
        now: i64,
    ) -> Option<String> {
        let loaded = self.metadata(now).await.ok()?;
        let slo = loaded.metadata.slo_url.as_ref()?;
        let xml = logout_request(
            &new_id(),
            &self.sp_entity_id,
            slo,
            name_id,
            name_id_format,
            session_index,
            now,
        );
        let signer = signer.filter(|_| self.settings.sign_authn_requests);
        redirect_url(slo, &xml, None, signer.map(|s| move |b: &[u8]| s.sign(b))).ok()
    }

    /// The broker's SP metadata for this source, listing `certificates` (base64 DER).
    pub fn sp_metadata(&self, certificates: &[String]) -> String {
        sp_metadata(&SpDescription {
            entity_id: &self.sp_entity_id,
            acs_url: &self.acs_url,
            slo_url: &self.slo_url,
            certificates,
            sign_authn_requests: self.settings.sign_authn_requests,
        })
    }

    fn trust(&self, loaded: &Loaded) -> IdpTrust {
        IdpTrust {
            entity_id: loaded.metadata.entity_id.clone(),
            keys: loaded
                .metadata
                .certificates
                .iter()
                .map(|c| c.key.clone())
                .collect(),
            allow_sha1: self.settings.allow_sha1,
        }
    }

    /// Verifies a posted `SAMLResponse` answering `request_id` (the request this browser
    /// started, if any), consumes its assertion ID once across every instance, and reads the
    /// person it names. Every outcome is kept for the admin page.
    pub async fn finish(
        &self,
        store: &Store,
        saml_response: &str,
        request_id: Option<&str>,
        decryption_keys: &[PKey<Private>],
        now: i64,
    ) -> Result<(Verified, ExternalUser), UpstreamError> {
        let outcome = self
            .finish_inner(store, saml_response, request_id, decryption_keys, now)
            .await;
        if let Ok(mut s) = self.status.lock() {
            match &outcome {
                Ok(_) => s.last_success = Some(now),
                Err(UpstreamError::Store(_)) => {}
                Err(e) => s.last_refusal = Some((now, e.to_string())),
            }
        }
        outcome
    }

    async fn finish_inner(
        &self,
        store: &Store,
        saml_response: &str,
        request_id: Option<&str>,
        decryption_keys: &[PKey<Private>],
        now: i64,
    ) -> Result<(Verified, ExternalUser), UpstreamError> {
        let expected = Expected {
            audience: &self.sp_entity_id,
            acs_url: &self.acs_url,
            request_id,
            allow_unsolicited: self.settings.allow_idp_initiated,
            now,
            skew_secs: self.settings.allowed_clock_skew_secs,
        };
        let refused = |refusal| UpstreamError::Refused {
            provider: self.settings.name.clone(),
            refusal,
        };
        let loaded = self.metadata(now).await?;
        let mut result = verify_response(
            saml_response,
            &self.trust(&loaded),
            &expected,
            decryption_keys,
        );
        if matches!(&result, Err(r) if r.may_need_fresh_metadata())
            && self.forced_refresh(now).await
        {
            let loaded = self.metadata(now).await?;
            result = verify_response(
                saml_response,
                &self.trust(&loaded),
                &expected,
                decryption_keys,
            );
        }
        let verified = result.map_err(refused)?;
        if self.settings.want_assertions_encrypted && !verified.encrypted {
            return Err(UpstreamError::NotAllowed(format!(
                "{} sent an unencrypted assertion, and this source wants them encrypted \
                 (want_assertions_encrypted): have the identity provider encrypt to the certificate \
                 in the broker's SP metadata",
                self.settings.name
            )));
        }
        let remember_until = verified.valid_until + self.settings.allowed_clock_skew_secs;
        if !store
            .consume_assertion(&verified.issuer, &verified.assertion_id, remember_until)
            .await?
        {
            return Err(refused(Refusal::Replay(verified.assertion_id.clone())));
        }
        let person = self.person(&verified)?;
        Ok((verified, person))
    }

    /// The person an assertion names, by the configured attribute names.
    fn person(&self, v: &Verified) -> Result<ExternalUser, UpstreamError> {
        let (user_attr, email_attr, name_attr, groups_attr) = self.settings.attribute_names();
        let first = |name: &str| {
            v.attributes
                .get(name)
                .and_then(|vals| vals.iter().find(|x| !x.is_empty()))
                .cloned()
        };
        let username = if user_attr.is_empty() {
            v.name_id.clone()
        } else {
            first(&user_attr).ok_or_else(|| {
                UpstreamError::NotAllowed(format!(
                    "{} sent no `{user_attr}` attribute to take the username from; release it to \
                     the broker or set username_attribute",
                    self.settings.name
                ))
            })?
        };
        // A transient NameID changes at every sign-in, so the person is known by username.
        let stable = if v.name_id_format == TRANSIENT {
            &username
        } else {
            &v.name_id
        };
        let groups: Vec<String> = v
            .attributes
            .get(&groups_attr)
            .map(|g| g.iter().filter(|x| !x.is_empty()).cloned().collect())
            .unwrap_or_default();
        let required = &self.settings.required_group;
        if !required.is_empty() && !groups.iter().any(|g| g == required) {
            return Err(UpstreamError::NotAllowed(format!(
                "only members of `{required}` may sign in through {}",
                self.settings.name
            )));
        }
        let attributes = self
            .settings
            .extra_attributes
            .iter()
            .filter_map(|a| v.attributes.get(a).map(|vals| (a.clone(), vals.join(","))))
            .collect();
        Ok(ExternalUser {
            subject: format!("{}!{stable}", v.issuer),
            username,
            email: first(&email_attr).unwrap_or_default(),
            display_name: first(&name_attr).unwrap_or_default(),
            groups,
            attributes,
        })
    }

    /// The source's state for the admin page.
    pub fn status(&self) -> (Status, Option<Arc<Loaded>>) {
        let status = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        (status, self.current())
    }
}
