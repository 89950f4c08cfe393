//! Encrypted assertions toward AWS, per account: an IAM SAML provider with
//! `AssertionEncryptionMode` `Allowed` or `Required` has an IdP ID and publishes a certificate;
//! fedbroker then encrypts that account's Assertions for it and posts them to its ACS URL
//! (`https://<region>.signin.aws.amazon.com/saml/acs/<IdP ID>`) at whichever regional sign-in
//! endpoint serves, so failover keeps working. An admin pastes the certificate or has it
//! fetched from AWS (`https://<region>.signin.aws.amazon.com/static/saml/<IdP ID>/saml-metadata.xml`).

use std::time::Duration;

use crate::aws::assertion::SignInError;
use crate::domain::aws::AccountId;
use crate::saml::encrypt::EncryptionKey;
use crate::store::{EncryptionRecord, Store, StoreError};

/// An account whose IAM SAML provider takes encrypted assertions.
#[derive(Debug, Clone)]
pub struct EncryptionTarget {
    pub idp_id: String,
    pub key: EncryptionKey,
}

/// The encrypting provider of `account`, if one is set (from memory on every instance).
pub async fn encryption_target(
    store: &crate::store::Store,
    account: &str,
) -> Result<Option<EncryptionTarget>, SignInError> {
    let all = store.assertion_encryption().await?;
    let Some(record) = all.iter().find(|r| r.account_id == account) else {
        return Ok(None);
    };
    let key = EncryptionKey::from_certificate(&record.certificate).map_err(|why| {
        SignInError::Internal(anyhow::anyhow!(
            "the assertion encryption certificate stored for account {account} {why}; an admin can set it again on the Accounts page"
        ))
    })?;
    Ok(Some(EncryptionTarget {
        idp_id: record.idp_id.clone(),
        key,
    }))
}

/// The ACS URL of an encrypting SAML provider at a sign-in endpoint:
/// `https://<region>.signin.aws.amazon.com/saml` → `…/saml/acs/<IdP ID>`.
pub fn encrypted_acs_url(acs_url: &str, idp_id: &str) -> String {
    format!("{}/acs/{idp_id}", acs_url.trim_end_matches('/'))
}

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
/// `use` is `encryption` (or, lacking one, the only certificate).
pub fn certificate_from_metadata(xml: &str) -> Option<String> {
    let cert_in = |part: &str| {
        let start = part.find("X509Certificate>")? + "X509Certificate>".len();
        let end = part[start..].find('<')?;
        let b64: String = part[start..start + end].split_whitespace().collect();
        (!b64.is_empty()).then_some(b64)
    };
    let encryption = xml
        .split("KeyDescriptor")
        .find(|part| part.contains("use=\"encryption\""))
        .and_then(cert_in);
    encryption.or_else(|| {
        let certs = xml.matches("X509Certificate>").count();
        (certs <= 2).then(|| cert_in(xml)).flatten()
    })
}

/// Why an account's encryption could not be set.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionSetupError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sets an account's encrypting provider. `certificate` empty: fetched from AWS's metadata
/// for the provider next to `acs_url` (the first sign-in endpoint).
pub async fn configure(
    store: &Store,
    acs_url: &str,
    account: &str,
    idp_id: &str,
    certificate: &str,
    actor: &str,
    now: i64,
) -> Result<EncryptionRecord, EncryptionSetupError> {
    let invalid = EncryptionSetupError::Invalid;
    let account = AccountId::parse(account.trim())
        .map_err(|e| invalid(format!("account `{}` {}; {}", e.value, e.rule, e.fix)))?;
    let idp_id = check_idp_id(idp_id).map_err(invalid)?;
    let certificate = if certificate.trim().is_empty() {
        let url = metadata_url(acs_url, &idp_id);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
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
        let xml = response
            .text()
            .await
            .map_err(|_| invalid(format!("{url} sent an unreadable answer")))?;
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
        account_id: account.as_str().to_string(),
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
