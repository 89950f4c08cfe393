//! The key-encryption key (KEK) that seals the signing keys' private halves in the database
//! (AES-256-GCM): where it comes from (a setting, a file, or on SQLite a key file created beside
//! the database on first start), and the previous one that still opens keys during a rotation.

use std::path::PathBuf;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

use super::settings::SamlSettings;
use crate::store::Store;

/// Parses a base64 key-encryption key of exactly 32 bytes.
pub fn parse_kek(b64: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| "is not base64; generate one with `openssl rand -base64 32`".to_string())?;
    bytes.try_into().map_err(|_| {
        "must decode to exactly 32 bytes; generate one with `openssl rand -base64 32`".to_string()
    })
}

/// Finds the key-encryption key: the setting, the setting's file, or (SQLite only) a key file
/// beside the database that is created on first start — only while the database holds no
/// signing key: a database restored without its key file must not get a new one silently,
/// since its keys could then never be decrypted.
pub async fn load_kek(
    saml: &SamlSettings,
    database_url: &str,
    store: &Store,
) -> anyhow::Result<SealingKeys> {
    let current = load_current_kek(saml, database_url, store).await?;
    let previous = saml.previous_key_encryption_key.expose();
    let previous = if previous.is_empty() {
        None
    } else {
        Some(
            parse_kek(previous)
                .map_err(|m| anyhow::anyhow!("saml.previous_key_encryption_key {m}"))?,
        )
    };
    Ok(SealingKeys { current, previous })
}

/// The key-encryption keys of this instance: the current one seals, and both open during a
/// rotation (`saml.previous_key_encryption_key`, until `fedbroker keys reseal` has run).
#[derive(Clone, Copy)]
pub struct SealingKeys {
    current: [u8; 32],
    previous: Option<[u8; 32]>,
}

impl From<[u8; 32]> for SealingKeys {
    fn from(current: [u8; 32]) -> Self {
        SealingKeys {
            current,
            previous: None,
        }
    }
}

impl SealingKeys {
    pub(super) fn seal(&self, plain: &[u8]) -> anyhow::Result<String> {
        encrypt(&self.current, plain)
    }

    /// Opens with the current key, else the previous one; says which one opened it.
    pub(super) fn open(&self, sealed: &str) -> anyhow::Result<(Vec<u8>, bool)> {
        match decrypt(&self.current, sealed) {
            Ok(plain) => Ok((plain, true)),
            Err(e) => match &self.previous {
                Some(previous) => decrypt(previous, sealed)
                    .map(|plain| (plain, false))
                    .map_err(|_| e),
                None => Err(e),
            },
        }
    }
}

async fn load_current_kek(
    saml: &SamlSettings,
    database_url: &str,
    store: &Store,
) -> anyhow::Result<[u8; 32]> {
    let inline = saml.key_encryption_key.expose();
    if !inline.is_empty() {
        return parse_kek(inline).map_err(|m| anyhow::anyhow!("saml.key_encryption_key {m}"));
    }
    if !saml.key_encryption_key_file.is_empty() {
        let path = &saml.key_encryption_key_file;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read saml.key_encryption_key_file = {path}"))?;
        return parse_kek(&text).map_err(|m| anyhow::anyhow!("the key in {path} {m}"));
    }
    let url = database_url;
    if !url.starts_with("sqlite:") {
        anyhow::bail!(
            "saml.key_encryption_key is empty: with PostgreSQL every instance must decrypt the same \
             signing keys, so set saml.key_encryption_key (or saml.key_encryption_key_file) to 32 \
             random bytes in base64 (`openssl rand -base64 32`)"
        );
    }
    let path = default_kek_path(url);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return parse_kek(&text).map_err(|m| anyhow::anyhow!("the key in {} {m}", path.display()));
    }
    let stored = store.list_keys().await?.len();
    if stored > 0 {
        anyhow::bail!(
            "the database holds {stored} signing key(s), but their key-encryption key file {} is \
             missing: restore it together with the database (or set saml.key_encryption_key to \
             the key they were sealed with); a new key file would leave them undecryptable",
            path.display()
        );
    }
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes)?;
    crate::store::write_private_file(&path, &STANDARD.encode(bytes)).with_context(|| {
        format!(
            "cannot create the key-encryption key file {}",
            path.display()
        )
    })?;
    Ok(bytes)
}

fn default_kek_path(sqlite_url: &str) -> PathBuf {
    crate::store::sqlite_folder(sqlite_url)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("saml-key-encryption.key")
}

fn encrypt(kek: &[u8; 32], plain: &[u8]) -> anyhow::Result<String> {
    let mut nonce = [0u8; 12];
    openssl::rand::rand_bytes(&mut nonce)?;
    let mut tag = [0u8; 16];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        kek,
        Some(&nonce),
        b"fedbroker-signing-key",
        plain,
        &mut tag,
    )?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    Ok(STANDARD.encode(out))
}

fn decrypt(kek: &[u8; 32], b64: &str) -> anyhow::Result<Vec<u8>> {
    let raw = STANDARD.decode(b64).context("stored key is not base64")?;
    if raw.len() < 12 + 16 {
        anyhow::bail!("stored key is truncated");
    }
    let (nonce, rest) = raw.split_at(12);
    let (ct, tag) = rest.split_at(rest.len() - 16);
    decrypt_aead(Cipher::aes_256_gcm(), kek, Some(nonce), b"fedbroker-signing-key", ct, tag).map_err(|_| {
        anyhow::anyhow!(
            "cannot decrypt the signing key: saml.key_encryption_key is not the key it was stored with"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_encryption_round_trips_and_detects_the_wrong_key() {
        let kek = [7u8; 32];
        let sealed = encrypt(&kek, b"private key bytes").expect("encrypts");
        assert_eq!(
            decrypt(&kek, &sealed).expect("decrypts"),
            b"private key bytes"
        );
        let err = decrypt(&[8u8; 32], &sealed).expect_err("wrong key refused");
        assert!(err.to_string().contains("saml.key_encryption_key"), "{err}");
    }

    #[test]
    fn kek_must_be_32_bytes_of_base64() {
        assert!(parse_kek("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").is_ok());
        assert!(parse_kek("c2hvcnQ=").is_err());
        assert!(parse_kek("not base64!").is_err());
    }
}
