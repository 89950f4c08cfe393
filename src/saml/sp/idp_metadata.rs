//! An upstream identity provider's SAML metadata: its entityID, signing certificates and
//! Redirect-binding endpoints, read with the same strict parser as its responses.

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::x509::X509;

use super::dsig::DSIG;
use super::tree::Tree;

const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// One signing certificate.
#[derive(Clone)]
pub struct IdpCertificate {
    /// SHA-256 of the DER, lowercase hex.
    pub fingerprint: String,
    pub subject: String,
    /// Expiry, Unix seconds.
    pub not_after: i64,
    pub key: PKey<Public>,
}

impl std::fmt::Debug for IdpCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpCertificate")
            .field("fingerprint", &self.fingerprint)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What the broker uses from an identity provider's metadata.
#[derive(Debug, Clone)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub certificates: Vec<IdpCertificate>,
    /// SingleSignOnService, HTTP-Redirect binding.
    pub sso_url: String,
    /// SingleLogoutService, HTTP-Redirect binding, when the provider offers one.
    pub slo_url: Option<String>,
}

/// `AB:CD:..` or `abcd..` to lowercase hex without separators.
pub fn normalise_fingerprint(f: &str) -> String {
    f.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Parses metadata; with `pins`, only certificates whose SHA-256 fingerprint is pinned count.
pub fn parse(xml: &str, pins: &[String]) -> Result<IdpMetadata, String> {
    let tree = Tree::parse(xml).map_err(|e| format!("the metadata is not usable XML: {e}"))?;
    if !tree.is(0, MD, "EntityDescriptor") {
        return Err("the metadata is not a SAML 2.0 EntityDescriptor".into());
    }
    let entity_id = tree
        .attr(0, "entityID")
        .filter(|e| !e.is_empty())
        .ok_or("the metadata has no entityID")?
        .to_string();
    let idp = tree
        .children_named(0, MD, "IDPSSODescriptor")
        .next()
        .ok_or("the metadata describes no identity provider (IDPSSODescriptor)")?;
    let endpoint = |local: &str| {
        tree.children_named(idp, MD, local)
            .find(|e| tree.attr(*e, "Binding") == Some(REDIRECT))
            .and_then(|e| tree.attr(e, "Location"))
            .map(str::to_string)
    };
    let sso_url = endpoint("SingleSignOnService").ok_or(
        "the identity provider offers no SingleSignOnService with the HTTP-Redirect binding",
    )?;
    let slo_url = endpoint("SingleLogoutService");
    let pins: Vec<String> = pins.iter().map(|p| normalise_fingerprint(p)).collect();
    let mut certificates = Vec::new();
    for kd in tree.children_named(idp, MD, "KeyDescriptor") {
        if !matches!(tree.attr(kd, "use"), None | Some("signing") | Some("")) {
            continue;
        }
        for ki in tree.children_named(kd, DSIG, "KeyInfo") {
            for data in tree.children_named(ki, DSIG, "X509Data") {
                for c in tree.children_named(data, DSIG, "X509Certificate") {
                    let b64: String = tree
                        .text(c)
                        .chars()
                        .filter(|c| !c.is_ascii_whitespace())
                        .collect();
                    let der = openssl::base64::decode_block(&b64).map_err(|_| {
                        "a signing certificate in the metadata is not base64".to_string()
                    })?;
                    let cert = X509::from_der(&der).map_err(|_| {
                        "a signing certificate in the metadata is not X.509".to_string()
                    })?;
                    let fingerprint = hex::encode(
                        cert.digest(MessageDigest::sha256())
                            .map_err(|e| e.to_string())?,
                    );
                    if !pins.is_empty() && !pins.contains(&fingerprint) {
                        continue;
                    }
                    let not_after = asn1_unix(cert.not_after());
                    let subject = cert
                        .subject_name()
                        .entries()
                        .filter_map(|e| e.data().to_string().ok())
                        .collect::<Vec<_>>()
                        .join(", ");
                    let key = cert.public_key().map_err(|e| e.to_string())?;
                    if certificates
                        .iter()
                        .all(|c: &IdpCertificate| c.fingerprint != fingerprint)
                    {
                        certificates.push(IdpCertificate {
                            fingerprint,
                            subject,
                            not_after,
                            key,
                        });
                    }
                }
            }
        }
    }
    if certificates.is_empty() {
        return Err(if pins.is_empty() {
            "the metadata lists no signing certificate".into()
        } else {
            "no signing certificate in the metadata matches pinned_fingerprints".into()
        });
    }
    Ok(IdpMetadata {
        entity_id,
        certificates,
        sso_url,
        slo_url,
    })
}

fn asn1_unix(t: &openssl::asn1::Asn1TimeRef) -> i64 {
    openssl::asn1::Asn1Time::from_unix(0)
        .ok()
        .and_then(|epoch| epoch.diff(t).ok())
        .map(|d| i64::from(d.days) * 86_400 + i64::from(d.secs))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata_with(cert_b64: &str) -> String {
        format!(
            "<md:EntityDescriptor xmlns:md=\"{MD}\" xmlns:ds=\"{DSIG}\" entityID=\"https://idp.example\">\
             <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
             <md:KeyDescriptor use=\"encryption\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>bm90IGEgY2VydA==\
             </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
             <md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}\
             </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
             <md:SingleSignOnService Binding=\"{REDIRECT}\" Location=\"https://idp.example/sso\"/>\
             </md:IDPSSODescriptor></md:EntityDescriptor>"
        )
    }

    #[test]
    fn signing_certificates_are_read_and_pins_limit_them() {
        let (_, cert) = crate::saml::keys::generate("idp").expect("key");
        let der = cert.to_der().expect("der");
        let b64 = openssl::base64::encode_block(&der);
        let xml = metadata_with(&b64);
        let m = parse(&xml, &[]).expect("parses");
        assert_eq!(m.entity_id, "https://idp.example");
        assert_eq!(m.sso_url, "https://idp.example/sso");
        assert_eq!(m.slo_url, None);
        assert_eq!(
            m.certificates.len(),
            1,
            "the encryption key is not a signing key"
        );
        let fingerprint = m.certificates[0].fingerprint.clone();
        let pinned = fingerprint
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).to_string())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(
            parse(&xml, &[pinned]).expect("pinned").certificates.len(),
            1
        );
        let e = parse(&xml, &["00".repeat(32)]).expect_err("not pinned");
        assert!(e.contains("pinned_fingerprints"), "{e}");
        assert!(parse("<!DOCTYPE x><x/>", &[]).is_err());
    }
}
