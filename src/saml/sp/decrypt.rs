//! `EncryptedAssertion` (XML Encryption): the content key is unwrapped with one of the
//! broker's private keys by RSA-OAEP, the assertion decrypted with AES-GCM or AES-CBC.
//!
//! RSA PKCS#1 v1.5 key transport (`rsa-1_5`) is refused: its padding oracle lets an attacker
//! who can submit responses decrypt others. Every upstream named in the README can use OAEP.

use openssl::md::{Md, MdRef};
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{decrypt_aead, Cipher, Crypter, Mode};

use super::dsig::DSIG;
use super::tree::{NodeId, Tree};

pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const XENC11: &str = "http://www.w3.org/2009/xmlenc11#";

/// Why an encrypted assertion could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecryptError {
    #[error("the encrypted assertion is malformed: {0}")]
    Malformed(String),
    #[error("the encrypted assertion uses {0}, which is not accepted")]
    Algorithm(String),
    #[error("the encrypted assertion is not for any of this broker's keys (the identity provider may hold an old certificate: upload the SP metadata again)")]
    NotForUs,
    #[error("the encrypted assertion does not decrypt (tampered or corrupt)")]
    Corrupt,
}

fn find(tree: &Tree, root: NodeId, ns: &str, local: &str) -> Vec<NodeId> {
    tree.elements()
        .filter(|i| tree.is(*i, ns, local) && tree.contains(root, *i))
        .collect()
}

fn b64(text: &str) -> Result<Vec<u8>, DecryptError> {
    super::verify::decode_base64(text)
        .ok_or_else(|| DecryptError::Malformed("a CipherValue is not base64".into()))
}

fn cipher_value(tree: &Tree, holder: NodeId) -> Result<Vec<u8>, DecryptError> {
    let data = tree
        .only_child(holder, XENC, "CipherData")
        .and_then(|d| tree.only_child(d, XENC, "CipherValue"))
        .ok_or_else(|| DecryptError::Malformed("CipherData/CipherValue is missing".into()))?;
    b64(&tree.text(data))
}

fn method(tree: &Tree, holder: NodeId) -> Result<(NodeId, String), DecryptError> {
    let m = tree
        .only_child(holder, XENC, "EncryptionMethod")
        .ok_or_else(|| DecryptError::Malformed("EncryptionMethod is missing".into()))?;
    let alg = tree
        .attr(m, "Algorithm")
        .ok_or_else(|| DecryptError::Malformed("EncryptionMethod has no Algorithm".into()))?;
    Ok((m, alg.to_string()))
}

fn oaep_digest(uri: Option<&str>) -> Result<&'static MdRef, DecryptError> {
    match uri {
        None | Some("http://www.w3.org/2000/09/xmldsig#sha1") => Ok(Md::sha1()),
        Some("http://www.w3.org/2001/04/xmlenc#sha256") => Ok(Md::sha256()),
        Some("http://www.w3.org/2001/04/xmlenc#sha512") => Ok(Md::sha512()),
        Some(other) => Err(DecryptError::Algorithm(other.to_string())),
    }
}

fn mgf_digest(uri: Option<&str>) -> Result<&'static MdRef, DecryptError> {
    match uri {
        None | Some("http://www.w3.org/2009/xmlenc11#mgf1sha1") => Ok(Md::sha1()),
        Some("http://www.w3.org/2009/xmlenc11#mgf1sha256") => Ok(Md::sha256()),
        Some("http://www.w3.org/2009/xmlenc11#mgf1sha512") => Ok(Md::sha512()),
        Some(other) => Err(DecryptError::Algorithm(other.to_string())),
    }
}

/// Unwraps the content key of one `EncryptedKey` with one of `keys`.
fn unwrap_key(
    tree: &Tree,
    encrypted_key: NodeId,
    keys: &[PKey<Private>],
) -> Result<Vec<u8>, DecryptError> {
    let (m, alg) = method(tree, encrypted_key)?;
    let digest_uri = tree
        .only_child(m, DSIG, "DigestMethod")
        .and_then(|d| tree.attr(d, "Algorithm"));
    let (md, mgf) = match alg.as_str() {
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p" => (oaep_digest(digest_uri)?, Md::sha1()),
        "http://www.w3.org/2009/xmlenc11#rsa-oaep" => (
            oaep_digest(digest_uri)?,
            mgf_digest(
                tree.only_child(m, XENC11, "MGF")
                    .and_then(|g| tree.attr(g, "Algorithm")),
            )?,
        ),
        other => return Err(DecryptError::Algorithm(other.to_string())),
    };
    let wrapped = cipher_value(tree, encrypted_key)?;
    for key in keys {
        let attempt = (|| -> Result<Vec<u8>, openssl::error::ErrorStack> {
            let mut ctx = PkeyCtx::new(key)?;
            ctx.decrypt_init()?;
            ctx.set_rsa_padding(Padding::PKCS1_OAEP)?;
            ctx.set_rsa_oaep_md(md)?;
            ctx.set_rsa_mgf1_md(mgf)?;
            let mut out = Vec::new();
            ctx.decrypt_to_vec(&wrapped, &mut out)?;
            Ok(out)
        })();
        if let Ok(k) = attempt {
            return Ok(k);
        }
    }
    Err(DecryptError::NotForUs)
}

/// Decrypts the `EncryptedData` of an `EncryptedAssertion` to the assertion's XML text.
pub fn decrypt_assertion(
    tree: &Tree,
    encrypted_assertion: NodeId,
    keys: &[PKey<Private>],
) -> Result<String, DecryptError> {
    let data = tree
        .only_child(encrypted_assertion, XENC, "EncryptedData")
        .ok_or_else(|| DecryptError::Malformed("expected exactly one EncryptedData".into()))?;
    let (_, alg) = method(tree, data)?;
    // The EncryptedKey sits in EncryptedData's KeyInfo or beside EncryptedData (Shibboleth).
    let encrypted_keys = find(tree, encrypted_assertion, XENC, "EncryptedKey");
    if encrypted_keys.is_empty() {
        return Err(DecryptError::Malformed("no EncryptedKey".into()));
    }
    let mut content_key = Err(DecryptError::NotForUs);
    for k in encrypted_keys {
        content_key = unwrap_key(tree, k, keys);
        if content_key.is_ok() {
            break;
        }
    }
    let content_key = content_key?;
    let body = cipher_value(tree, data)?;
    let plain = match alg.as_str() {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => {
            cbc(Cipher::aes_128_cbc(), &content_key, &body)?
        }
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => {
            cbc(Cipher::aes_192_cbc(), &content_key, &body)?
        }
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => {
            cbc(Cipher::aes_256_cbc(), &content_key, &body)?
        }
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => {
            gcm(Cipher::aes_128_gcm(), &content_key, &body)?
        }
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => {
            gcm(Cipher::aes_192_gcm(), &content_key, &body)?
        }
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => {
            gcm(Cipher::aes_256_gcm(), &content_key, &body)?
        }
        other => return Err(DecryptError::Algorithm(other.to_string())),
    };
    String::from_utf8(plain).map_err(|_| DecryptError::Corrupt)
}

/// AES-CBC with the IV first and XML Encryption's padding (the last byte counts the pad).
fn cbc(cipher: Cipher, key: &[u8], body: &[u8]) -> Result<Vec<u8>, DecryptError> {
    if key.len() != cipher.key_len() || body.len() < 32 || !body.len().is_multiple_of(16) {
        return Err(DecryptError::Corrupt);
    }
    let (iv, data) = body.split_at(16);
    let mut c =
        Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(|_| DecryptError::Corrupt)?;
    c.pad(false);
    let mut out = vec![0; data.len() + 16];
    let mut n = c
        .update(data, &mut out)
        .map_err(|_| DecryptError::Corrupt)?;
    n += c
        .finalize(&mut out[n..])
        .map_err(|_| DecryptError::Corrupt)?;
    out.truncate(n);
    let pad = usize::from(*out.last().ok_or(DecryptError::Corrupt)?);
    if pad == 0 || pad > 16 || pad > out.len() {
        return Err(DecryptError::Corrupt);
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

/// AES-GCM with a 96-bit IV first and the 128-bit tag last.
fn gcm(cipher: Cipher, key: &[u8], body: &[u8]) -> Result<Vec<u8>, DecryptError> {
    if key.len() != cipher.key_len() || body.len() < 12 + 16 {
        return Err(DecryptError::Corrupt);
    }
    let (iv, rest) = body.split_at(12);
    let (data, tag) = rest.split_at(rest.len() - 16);
    decrypt_aead(cipher, key, Some(iv), &[], data, tag).map_err(|_| DecryptError::Corrupt)
}
