//! Signing keys: generated on first start, stored in the database so every instance shares
//! them, private halves encrypted with AES-256-GCM under a key-encryption key from the settings.
//!
//! Rotation follows what IAM needs: a new key is *published* (in metadata, not signing) so the
//! IAM SAML provider can be updated first; then it is *activated* (signs; the old one stays in
//! metadata); finally the old one is *retired* (leaves metadata).

use std::sync::{Arc, Mutex};

use anyhow::Context;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509NameBuilder, X509};
use sha2::{Digest, Sha256};

pub use super::kek::{load_kek, parse_kek, SealingKeys};
use super::sign::XmlSigner;
use crate::store::{KeyRecord, Store, StoreError};

/// Generates an RSA key (its primes searched on two threads: `rsa_keygen.rs`) and a
/// self-signed certificate (10 years; AWS does not check IdP certificate expiry, rotation is
/// done with `fedbroker keys`).
pub fn generate(common_name: &str) -> anyhow::Result<(PKey<Private>, X509)> {
    let pkey = PKey::from_rsa(super::rsa_keygen::generate_2048()?)?;
    let mut name = X509NameBuilder::new()?;
    let cn: String = common_name.chars().take(64).collect();
    name.append_entry_by_text("CN", &cn)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&pkey)?;
    builder.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    builder.set_not_after(&*Asn1Time::days_from_now(3650)?)?;
    builder.sign(&pkey, MessageDigest::sha256())?;
    Ok((pkey, builder.build()))
}

/// A key as listed to admins.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub kid: String,
    pub state: String,
    pub certificate_pem: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

impl KeyInfo {
    /// The certificate as base64 DER (what metadata carries).
    pub fn certificate_b64(&self) -> String {
        self.certificate_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect()
    }

    /// Whether the key is in the metadata.
    pub fn is_published(&self) -> bool {
        self.state != "retired"
    }
}

/// Decryption keys opened from the stored records `(id, sealed value)` listed beside them.
type OpenedKeys = (Vec<(String, String)>, Vec<PKey<Private>>);

/// The keys of this installation, with the active one parsed and cached.
pub struct KeyRing {
    store: Store,
    kek: SealingKeys,
    common_name: String,
    cache: Mutex<Option<Arc<XmlSigner>>>,
    /// The opened decryption keys and the stored records they came from.
    opened: Mutex<Option<OpenedKeys>>,
}

impl KeyRing {
    /// A key ring over the store.
    pub fn new(store: Store, kek: impl Into<SealingKeys>, common_name: &str) -> Self {
        KeyRing {
            store,
            kek: kek.into(),
            common_name: common_name.to_string(),
            cache: Mutex::new(None),
            opened: Mutex::new(None),
        }
    }

    /// On first start, generates and activates a key.
    pub async fn ensure_initial(&self, now: i64) -> anyhow::Result<()> {
        if !self.store.list_keys().await?.is_empty() {
            return Ok(());
        }
        // Instances starting together on an empty database may all get here: the store keeps
        // the first key only (`insert_first_key`), and the others' keys are dropped unused.
        let key = self.generate(now, "active", Some(now)).await?;
        if self.store.insert_first_key(&key).await? {
            tracing::info!(kid = %key.kid, "generated the first SAML signing key");
        } else {
            tracing::info!("another instance generated the first SAML signing key");
        }
        Ok(())
    }

    /// Generates a key and publishes it (in metadata, not signing yet), recording who did it.
    /// Returns its id.
    pub async fn add(&self, actor: &str, now: i64) -> anyhow::Result<String> {
        // A key sealed with another key-encryption key would break every instance that holds
        // the right one once it is activated: refuse while this instance cannot read the ring.
        self.check_kek().await?;
        let kid = self.generate_and_store(now).await?;
        self.audit(actor, &kid, "add", now).await;
        Ok(kid)
    }

    /// The audit event of a change to the ring: the admin pages and the command line call the
    /// same operations, so both record the same event.
    async fn audit(&self, actor: &str, kid: &str, action: &str, now: i64) {
        self.store
            .record_admin_change(
                actor,
                "signing_key",
                kid,
                action,
                serde_json::json!({}),
                now,
            )
            .await;
    }

    async fn generate_and_store(&self, now: i64) -> anyhow::Result<String> {
        let key = self.generate(now, "published", None).await?;
        self.store.insert_key(&key).await?;
        Ok(key.kid)
    }

    /// A new key pair and certificate, sealed, as a record in `state`.
    async fn generate(
        &self,
        now: i64,
        state: &str,
        activated_at: Option<i64>,
    ) -> anyhow::Result<KeyRecord> {
        let cn = self.common_name.clone();
        let (pkey, cert) = tokio::task::spawn_blocking(move || generate(&cn)).await??;
        let der = cert.to_der()?;
        let kid = hex::encode(&Sha256::digest(&der)[..8]);
        let pem = String::from_utf8(cert.to_pem()?)?;
        let private = pkey.private_key_to_pkcs8()?;
        Ok(KeyRecord {
            kid,
            state: state.into(),
            certificate_pem: pem,
            private_key_enc: self.kek.seal(&private)?,
            created_at: now,
            activated_at,
            retired_at: None,
        })
    }

    /// Makes a published key the signing key, recording who did it.
    pub async fn activate(&self, kid: &str, actor: &str, now: i64) -> anyhow::Result<()> {
        let records = self.store.list_keys().await?;
        if let Some(record) = records.iter().find(|k| k.kid == kid) {
            self.kek.open(&record.private_key_enc).with_context(|| {
                format!("key {kid} cannot be activated: this instance's key-encryption key does not decrypt it")
            })?;
        }
        self.store.activate_key(kid, now).await?;
        self.audit(actor, kid, "activate", now).await;
        Ok(())
    }

    /// Removes a key from the metadata, recording who did it.
    pub async fn retire(&self, kid: &str, actor: &str, now: i64) -> Result<(), StoreError> {
        self.store.retire_key(kid, now).await?;
        self.audit(actor, kid, "retire", now).await;
        Ok(())
    }

    /// Checks that this instance's key-encryption key decrypts every key not yet retired;
    /// the error names the first key it cannot read and the setting to fix.
    pub async fn check_kek(&self) -> anyhow::Result<()> {
        self.published_private_keys().await.map(|_| ())
    }

    /// Every key not retired, the active one first, with its private half opened.
    async fn published_private_keys(&self) -> anyhow::Result<Vec<(KeyRecord, Vec<u8>)>> {
        self.open_published(self.store.list_keys().await?)
    }

    /// The records not retired, the active one first, each with its private half opened.
    fn open_published(
        &self,
        mut records: Vec<KeyRecord>,
    ) -> anyhow::Result<Vec<(KeyRecord, Vec<u8>)>> {
        records.retain(|k| k.state != "retired");
        records.sort_by_key(|k| k.state != "active");
        records
            .into_iter()
            .map(|record| {
                let (plain, _) = self.kek.open(&record.private_key_enc).with_context(|| {
                    format!(
                        "signing key {} cannot be decrypted with this instance's key-encryption \
                         key: give it the same saml.key_encryption_key as the instance that \
                         created the key",
                        record.kid
                    )
                })?;
                Ok((record, plain))
            })
            .collect()
    }

    /// Seals every key again with the current key-encryption key, in one transaction, so that
    /// `saml.previous_key_encryption_key` can be removed. Retired keys are resealed when they
    /// open, and left as they are when they do not (they are never used again). Returns how
    /// many keys were resealed.
    pub async fn reseal(&self, actor: &str, now: i64) -> anyhow::Result<usize> {
        self.check_kek().await?;
        let mut changes = Vec::new();
        for record in self.store.list_keys().await? {
            match self.kek.open(&record.private_key_enc) {
                Ok((_, true)) => {}
                Ok((plain, false)) => {
                    let sealed = self.kek.seal(&plain)?;
                    changes.push((record.kid, record.private_key_enc, sealed));
                }
                Err(_) => {}
            }
        }
        self.store.reseal_keys(&changes).await?;
        let kids: Vec<&str> = changes.iter().map(|(kid, _, _)| kid.as_str()).collect();
        if !changes.is_empty() {
            self.store
                .record_admin_change(
                    actor,
                    "signing_key",
                    "all",
                    "reseal",
                    serde_json::json!({ "resealed": kids }),
                    now,
                )
                .await;
        }
        Ok(changes.len())
    }

    /// The IdP metadata listing every published key (the active one and any waiting to be
    /// activated), for `/saml/metadata` and the keys page alike.
    pub async fn metadata(&self, entity_id: &str, sso_url: &str) -> anyhow::Result<String> {
        let certificates: Vec<String> = self
            .list()
            .await?
            .into_iter()
            .filter(KeyInfo::is_published)
            .map(|k| k.certificate_b64())
            .collect();
        super::metadata::idp_metadata(entity_id, sso_url, &certificates)
    }

    /// Every key with its state.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, StoreError> {
        Ok(self
            .store
            .list_keys()
            .await?
            .into_iter()
            .map(|k| KeyInfo {
                kid: k.kid,
                state: k.state,
                certificate_pem: k.certificate_pem,
                created_at: k.created_at,
                activated_at: k.activated_at,
                retired_at: k.retired_at,
            })
            .collect())
    }

    /// The private keys of every published key, the active one first: assertions encrypted by
    /// an upstream identity provider to any certificate in the SP metadata can be read, also
    /// across a rotation.
    ///
    /// Opened once per set of stored keys: every upstream SAML Response reaches this, and
    /// opening and parsing RSA keys per post would cost more than verifying the Response.
    pub async fn decryption_keys(&self) -> anyhow::Result<Vec<PKey<Private>>> {
        let records = self.store.list_keys().await?;
        // The state too: the active key comes first, and activation changes which that is.
        let stamp: Vec<(String, String)> = records
            .iter()
            .filter(|k| k.state != "retired")
            .map(|k| (format!("{} {}", k.kid, k.state), k.private_key_enc.clone()))
            .collect();
        if let Ok(cache) = self.opened.lock() {
            if let Some((seen, keys)) = cache.as_ref() {
                if *seen == stamp {
                    return Ok(keys.clone());
                }
            }
        }
        let keys = self
            .open_published(records)?
            .into_iter()
            .map(|(_, der)| {
                PKey::private_key_from_pkcs8(&der).context("stored signing key is corrupt")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Ok(mut cache) = self.opened.lock() {
            *cache = Some((stamp, keys.clone()));
        }
        Ok(keys)
    }

    /// The signer of the active key. The database says which key is active (another instance
    /// may have rotated); the parsed key is reused while that stays the same.
    pub async fn signer(&self) -> anyhow::Result<Arc<XmlSigner>> {
        let record = self.store.active_key().await?.context(
            "no active SAML signing key; run `fedbroker keys add` and `fedbroker keys activate`",
        )?;
        if let Ok(cache) = self.cache.lock() {
            if let Some(signer) = cache.as_ref().filter(|s| s.kid() == record.kid) {
                return Ok(signer.clone());
            }
        }
        let (der, _) = self.kek.open(&record.private_key_enc)?;
        let pkey = PKey::private_key_from_pkcs8(&der).context("stored signing key is corrupt")?;
        let cert = X509::from_pem(record.certificate_pem.as_bytes())?;
        let signer = Arc::new(XmlSigner::new(record.kid.clone(), pkey, &cert.to_der()?));
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some(signer.clone());
        }
        Ok(signer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_are_rsa_2048_self_signed() {
        let (pkey, cert) = generate("fedbroker test").expect("generates");
        assert_eq!(pkey.bits(), 2048);
        assert!(cert.verify(&pkey).expect("verifies"));
    }
}
