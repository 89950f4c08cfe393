//! Encrypted assertions toward AWS, per SAML provider: an IAM SAML provider with
//! `AssertionEncryptionMode` `Allowed` or `Required` has an IdP ID and publishes a certificate;
//! fedbroker then encrypts the Assertions of that provider's roles for it and posts them to its ACS URL
//! (`https://<region>.signin.aws.amazon.com/saml/acs/<IdP ID>`) at whichever regional sign-in
//! endpoint serves, so failover keeps working. An admin pastes the certificate or has it
//! fetched from AWS (`https://<region>.signin.aws.amazon.com/static/saml/<IdP ID>/saml-metadata.xml`).

use std::time::Duration;

use crate::domain::aws::{AccountId, Partition, SamlProviderArn};
use crate::saml::encrypt::EncryptionKey;
use crate::store::{EncryptionRecord, Store, StoreError};

/// Where AWS publishes a provider's metadata (with its encryption certificate), next to a
/// sign-in endpoint: `…/saml` → `…/static/saml/<IdP ID>/saml-metadata.xml`.
pub fn metadata_url(acs_url: &str, idp_id: &str) -> String {
    let base = acs_url.trim_end_matches('/');
    let base = base.strip_suffix("/saml").unwrap_or(base);
    format!("{base}/static/saml/{idp_id}/saml-metadata.xml")
}

/// Checks a provider's IdP ID: it becomes part of URLs, so only letters, digits, `-` and `_`.
pub fn check_idp_id(raw: &str) -> Result<String, String> {
    let id = raw.trim();
    if (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(id.to_string())
    } else {
        Err(format!(
            "`{id}` is not a SAML provider IdP ID: copy it from the IAM console (the provider's \
             ACS URL ends with /saml/acs/<IdP ID>); letters, digits, - and _ only"
        ))
    }
}

/// The encryption certificate from a provider's published metadata: the `KeyDescriptor` whose
/// `use` is `encryption`, or else the only one without a `use` (never a signing one).
pub fn certificate_from_metadata(xml: &str) -> Option<String> {
    let cert_in = |part: &str| {
        let start = part.find("X509Certificate>")? + "X509Certificate>".len();
        let end = part[start..].find('<')?;
        let b64: String = part[start..start + end].split_whitespace().collect();
        (!b64.is_empty()).then_some(b64)
    };
    let descriptors: Vec<&str> = xml.split("KeyDescriptor").collect();
    let marked = |part: &&str, usage: &str| {
        part.contains(&format!("use=\"{usage}\"")) || part.contains(&format!("use='{usage}'"))
    };
    if let Some(part) = descriptors.iter().find(|p| marked(p, "encryption")) {
        return cert_in(part);
    }
    // No descriptor says `encryption`: one without a `use` serves both, a signing one never.
    let unmarked: Vec<&&str> = descriptors
        .iter()
        .skip(1)
        .filter(|p| p.contains("X509Certificate>") && !marked(p, "signing"))
        .collect();
    match unmarked.as_slice() {
        [one] => cert_in(one),
        _ => None,
    }
}

/// A provider's published metadata is a few kilobytes.
const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Why a provider's encryption could not be set.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionSetupError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The provider a form names: a SAML provider ARN of the partition, or an account id (its
/// provider named `saml.provider_name`, the one rules use unless they name another).
pub fn provider_named(
    raw: &str,
    partition: Partition,
    provider_name: &str,
) -> Result<SamlProviderArn, String> {
    let raw = raw.trim();
    let arn = if raw.starts_with("arn:") {
        SamlProviderArn::parse(raw).map_err(|e| format!("`{}` {}; {}", e.value, e.rule, e.fix))?
    } else {
        let account = AccountId::parse(raw)
            .map_err(|e| format!("account `{}` {}; {}", e.value, e.rule, e.fix))?;
        SamlProviderArn::parse(&format!(
            "arn:{}:iam::{}:saml-provider/{provider_name}",
            partition.as_str(),
            account.as_str()
        ))
        .map_err(|e| format!("`{}` {}; {}", e.value, e.rule, e.fix))?
    };
    if !arn
        .as_str()
        .starts_with(&format!("arn:{}:", partition.as_str()))
    {
        return Err(format!(
            "`{arn}` is not in the {} partition fedbroker signs in to",
            partition.as_str(),
            arn = arn.as_str()
        ));
    }
    Ok(arn)
}

/// Sets a provider's encryption. `certificate` empty: fetched from AWS's metadata for the
/// provider next to `acs_url` (the first sign-in endpoint).
pub async fn configure(
    store: &Store,
    acs_url: &str,
    provider: &SamlProviderArn,
    idp_id: &str,
    certificate: &str,
    actor: &str,
    now: i64,
) -> Result<EncryptionRecord, EncryptionSetupError> {
    let invalid = EncryptionSetupError::Invalid;
    let idp_id = check_idp_id(idp_id).map_err(invalid)?;
    let certificate = if certificate.trim().is_empty() {
        let url = metadata_url(acs_url, &idp_id);
        // The certificate decides who can read every assertion of the provider: fetched from the
        // configured sign-in endpoint's host only (no redirect elsewhere), small, and shown by
        // its fingerprint on the page and in the audit event.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| invalid(format!("cannot fetch the metadata: {e}")))?;
        let response = client.get(&url).send().await.map_err(|e| {
            invalid(format!(
                "cannot fetch {url} ({}); paste the certificate from the IAM console instead",
                if e.is_timeout() {
                    "timed out"
                } else {
                    "no connection"
                }
            ))
        })?;
        if !response.status().is_success() {
            return Err(invalid(format!(
                "{url} answered HTTP {}: check the IdP ID, or paste the certificate from the IAM console",
                response.status().as_u16()
            )));
        }
        let body = response
            .bytes()
            .await
            .map_err(|_| invalid(format!("{url} sent an unreadable answer")))?;
        if body.len() > MAX_METADATA_BYTES {
            return Err(invalid(format!(
                "{url} sent {} bytes, more than a provider's metadata holds; paste the certificate instead",
                body.len()
            )));
        }
        let xml = String::from_utf8_lossy(&body);
        certificate_from_metadata(&xml).ok_or_else(|| {
            invalid(format!(
                "{url} holds no encryption certificate; paste the certificate from the IAM console"
            ))
        })?
    } else {
        certificate.trim().to_string()
    };
    let key = EncryptionKey::from_certificate(&certificate)
        .map_err(|why| invalid(format!("the certificate {why}")))?;
    let record = EncryptionRecord {
        provider_arn: provider.as_str().to_string(),
        idp_id,
        certificate,
        updated_at: now,
        updated_by: actor.to_string(),
    };
    store
        .set_assertion_encryption(&record, &key.fingerprint())
        .await?;
    Ok(record)
}
