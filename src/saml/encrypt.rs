//! Encrypted assertions toward AWS: an IAM SAML provider whose `AssertionEncryptionMode` is
//! `Allowed` or `Required` takes the Assertion encrypted with the public key AWS publishes for
//! that provider (XML Encryption: AES-256-GCM for the content, RSA-OAEP with MGF1/SHA-1 for the
//! key, the pair xmlsec1 and every SAML stack read). The Assertion is signed first and
//! encrypted whole, so the signature AWS checks is the one inside, over what it decrypts; the
//! Response around it may be signed as well.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Padding;
use openssl::symm::{encrypt_aead, Cipher};
use openssl::x509::X509;

const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML Encryption 1.1's AES-256-GCM: the CipherValue is IV (12 bytes) ‖ ciphertext ‖ tag (16).
pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";

/// The public key an IAM SAML provider publishes for assertion encryption.
#[derive(Clone)]
pub struct EncryptionKey {
    cert: X509,
    key: PKey<Public>,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey")
    }
}

impl EncryptionKey {
    /// Reads a PEM certificate (what `saml-metadata.xml` holds as base64 DER is accepted too);
    /// it must carry an RSA key of at least 2,048 bits.
    pub fn from_certificate(text: &str) -> Result<EncryptionKey, String> {
        let text = text.trim();
        let cert = if text.starts_with("-----BEGIN") {
            X509::from_pem(text.as_bytes())
        } else {
            let der = STANDARD
                .decode(text.split_whitespace().collect::<String>())
                .map_err(|_| "is neither a PEM certificate nor base64 DER".to_string())?;
            X509::from_der(&der)
        }
        .map_err(|_| "is not a readable X.509 certificate".to_string())?;
        let key = cert
            .public_key()
            .map_err(|_| "has no readable public key".to_string())?;
        let bits = key
            .rsa()
            .map(|r| r.size() * 8)
            .map_err(|_| "does not hold an RSA key (AWS publishes RSA keys)".to_string())?;
        if bits < 2048 {
            return Err(format!(
                "holds a {bits}-bit RSA key; at least 2048 bits are needed"
            ));
        }
        Ok(EncryptionKey { cert, key })
    }

    /// SHA-256 fingerprint of the certificate, for the admin page and the audit log.
    pub fn fingerprint(&self) -> String {
        self.cert
            .digest(openssl::hash::MessageDigest::sha256())
            .map(|d| hex::encode(d).to_ascii_uppercase())
            .unwrap_or_default()
    }

    /// The certificate's expiry, as openssl writes it.
    pub fn not_after(&self) -> String {
        self.cert.not_after().to_string()
    }
}

/// A SAML provider that takes encrypted assertions: its IdP ID and key.
#[derive(Debug, Clone)]
pub struct EncryptionTarget {
    pub idp_id: String,
    pub key: EncryptionKey,
}

/// Why a provider's encryption could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The stored certificate does not read (it was checked when saved: a hand edit).
    #[error("the assertion encryption certificate stored for {provider} {why}; an admin can set it again on the Encrypted assertions page")]
    Unreadable { provider: String, why: String },
}

/// The encryption of `provider` (a SAML provider ARN), if it takes encrypted assertions (from
/// memory on every instance).
pub async fn target_for(
    store: &crate::store::Store,
    provider: &str,
) -> Result<Option<EncryptionTarget>, TargetError> {
    let all = store.assertion_encryption().await?;
    let Some(record) = all.iter().find(|r| r.provider_arn == provider) else {
        return Ok(None);
    };
    let key = EncryptionKey::from_certificate(&record.certificate).map_err(|why| {
        TargetError::Unreadable {
            provider: provider.to_string(),
            why,
        }
    })?;
    Ok(Some(EncryptionTarget {
        idp_id: record.idp_id.clone(),
        key,
    }))
}

/// The roles of a multi-role Response that go to one place: an encrypting provider takes only
/// its own roles (the Response is encrypted for it and posted to its ACS URL), so the bundle
/// keeps the roles that share the first role's target (its encrypting provider, or none).
pub async fn one_target(
    store: &crate::store::Store,
    roles: Vec<crate::domain::aws::RolePair>,
) -> Result<Vec<crate::domain::aws::RolePair>, crate::store::StoreError> {
    if roles.len() < 2 {
        return Ok(roles);
    }
    let encrypting = store.assertion_encryption().await?;
    let target = |p: &crate::domain::aws::RolePair| {
        encrypting
            .iter()
            .any(|r| r.provider_arn == p.provider.as_str())
            .then(|| p.provider.as_str().to_string())
    };
    let first = target(&roles[0]);
    Ok(roles.into_iter().filter(|p| target(p) == first).collect())
}

/// The ACS URL of an encrypting SAML provider at a sign-in endpoint:
/// `https://<region>.signin.aws.amazon.com/saml` → `…/saml/acs/<IdP ID>`.
pub fn encrypted_acs_url(acs_url: &str, idp_id: &str) -> String {
    format!("{}/acs/{idp_id}", acs_url.trim_end_matches('/'))
}

/// `<saml:EncryptedAssertion>` holding `assertion` (a signed `<saml:Assertion>` element that
/// declares its own namespaces) encrypted for `key`. Written in canonical form (no empty-element
/// tags, each namespace declared where first used), because a signed Response around it is
/// digested as written.
pub fn encrypt_assertion(
    assertion: &str,
    key: &EncryptionKey,
) -> Result<String, openssl::error::ErrorStack> {
    let mut content_key = [0u8; 32];
    openssl::rand::rand_bytes(&mut content_key)?;
    let mut iv = [0u8; 12];
    openssl::rand::rand_bytes(&mut iv)?;
    let mut tag = [0u8; 16];
    let ciphertext = encrypt_aead(
        Cipher::aes_256_gcm(),
        &content_key,
        Some(&iv),
        &[],
        assertion.as_bytes(),
        &mut tag,
    )?;
    let mut value = Vec::with_capacity(iv.len() + ciphertext.len() + tag.len());
    value.extend_from_slice(&iv);
    value.extend_from_slice(&ciphertext);
    value.extend_from_slice(&tag);
    let rsa = key.key.rsa()?;
    let mut wrapped = vec![0u8; rsa.size() as usize];
    let n = rsa.public_encrypt(&content_key, &mut wrapped, Padding::PKCS1_OAEP)?;
    wrapped.truncate(n);
    Ok(format!(
        "<saml:EncryptedAssertion xmlns:saml=\"{NS_SAML}\">\
         <xenc:EncryptedData xmlns:xenc=\"{NS_XENC}\" Type=\"{NS_XENC}Element\">\
         <xenc:EncryptionMethod Algorithm=\"{AES256_GCM}\"></xenc:EncryptionMethod>\
         <ds:KeyInfo xmlns:ds=\"{NS_DS}\"><xenc:EncryptedKey>\
         <xenc:EncryptionMethod Algorithm=\"{RSA_OAEP_MGF1P}\"><ds:DigestMethod Algorithm=\"{NS_DS}sha1\"></ds:DigestMethod></xenc:EncryptionMethod>\
         <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>\
         </xenc:EncryptedKey></ds:KeyInfo>\
         <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>\
         </xenc:EncryptedData></saml:EncryptedAssertion>",
        STANDARD.encode(&wrapped),
        STANDARD.encode(&value),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;
    use openssl::symm::decrypt_aead;

    fn self_signed(bits: u32) -> (String, Rsa<openssl::pkey::Private>) {
        let rsa = Rsa::generate(bits).expect("key");
        let pkey = PKey::from_rsa(rsa.clone()).expect("pkey");
        let mut name = openssl::x509::X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "aws").expect("cn");
        let name = name.build();
        let mut b = X509::builder().expect("builder");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&pkey).expect("pubkey");
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).expect("t"))
            .expect("nb");
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).expect("t"))
            .expect("na");
        b.sign(&pkey, openssl::hash::MessageDigest::sha256())
            .expect("sign");
        let pem = String::from_utf8(b.build().to_pem().expect("pem")).expect("utf-8");
        (pem, rsa)
    }

    fn values(xml: &str) -> Vec<Vec<u8>> {
        xml.split("<xenc:CipherValue>")
            .skip(1)
            .map(|v| {
                STANDARD
                    .decode(v.split('<').next().unwrap_or(""))
                    .expect("base64")
            })
            .collect()
    }

    #[test]
    fn the_holder_of_the_private_key_reads_the_assertion_back() {
        let (pem, rsa) = self_signed(2048);
        let key = EncryptionKey::from_certificate(&pem).expect("readable");
        assert_eq!(key.fingerprint().len(), 64);
        let assertion = "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">x</saml:Assertion>";
        let xml = encrypt_assertion(assertion, &key).expect("encrypts");
        assert!(!xml.contains("<saml:Assertion"), "nothing in clear: {xml}");
        let v = values(&xml);
        let mut content_key = vec![0u8; 256];
        let n = rsa
            .private_decrypt(&v[0], &mut content_key, Padding::PKCS1_OAEP)
            .expect("unwraps");
        let data = &v[1];
        let (iv, rest) = data.split_at(12);
        let (ct, tag) = rest.split_at(rest.len() - 16);
        let plain = decrypt_aead(
            Cipher::aes_256_gcm(),
            &content_key[..n],
            Some(iv),
            &[],
            ct,
            tag,
        )
        .expect("authentic");
        assert_eq!(plain, assertion.as_bytes());
        // One flipped bit of ciphertext fails the tag.
        let mut bad = ct.to_vec();
        bad[0] ^= 1;
        assert!(decrypt_aead(
            Cipher::aes_256_gcm(),
            &content_key[..n],
            Some(iv),
            &[],
            &bad,
            tag
        )
        .is_err());
        // Base64 DER (as in saml-metadata.xml) reads too; a short key does not.
        let der = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>();
        assert!(EncryptionKey::from_certificate(&der).is_ok());
        let (small, _) = self_signed(1024);
        assert!(
            matches!(EncryptionKey::from_certificate(&small), Err(e) if e.contains("1024-bit")),
            "a short key is refused, saying why"
        );
        assert!(EncryptionKey::from_certificate("hello").is_err());
    }
}
