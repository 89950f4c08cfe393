//! RSA-SHA256 signatures with a key parsed once and kept in memory.
//!
//! Re-parsing the key for every Response (as libxmlsec-based signing does) costs more than the
//! signature itself; keeping the parsed key is what lets signing run near the raw RSA rate.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;

/// A signing key with its certificate, ready to sign.
pub struct XmlSigner {
    kid: String,
    pkey: PKey<Private>,
    cert_b64: String,
}

impl std::fmt::Debug for XmlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl XmlSigner {
    /// Wraps a parsed key and its DER certificate.
    pub fn new(kid: String, pkey: PKey<Private>, cert_der: &[u8]) -> Self {
        XmlSigner {
            kid,
            pkey,
            cert_b64: STANDARD.encode(cert_der),
        }
    }

    /// Signs bytes with RSASSA-PKCS1-v1_5 over SHA-256 (XML-DSig `rsa-sha256`).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut signer = Signer::new(MessageDigest::sha256(), &self.pkey)?;
        signer.sign_oneshot_to_vec(data)
    }

    /// The certificate, base64 DER, as it goes into `X509Certificate`.
    pub fn cert_b64(&self) -> &str {
        &self.cert_b64
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}
