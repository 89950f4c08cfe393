//! IdP metadata for `aws iam create-saml-provider` / `update-saml-provider`.
//!
//! Every published key (the active one and any waiting to be activated) is listed, because IAM
//! accepts a signature from any certificate in the provider's metadata: that is what lets keys
//! rotate without a sign-in outage. Built with samael's schema types.

use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{Endpoint, EntityDescriptor, IdpSsoDescriptor, KeyDescriptor};
use samael::traits::ToXml;

/// SAML 2.0 protocol URI for `protocolSupportEnumeration`.
const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// Renders the IdP `EntityDescriptor` with the given signing certificates (base64 DER).
pub fn idp_metadata(
    entity_id: &str,
    sso_url: &str,
    certificates: &[String],
) -> anyhow::Result<String> {
    let key_descriptors = certificates
        .iter()
        .map(|cert| KeyDescriptor {
            key_use: Some("signing".to_string()),
            key_info: KeyInfo {
                id: None,
                x509_data: Some(X509Data {
                    certificates: vec![cert.clone()],
                }),
            },
            encryption_methods: None,
        })
        .collect();
    let idp = IdpSsoDescriptor {
        id: None,
        valid_until: None,
        cache_duration: None,
        protocol_support_enumeration: Some(PROTOCOL.to_string()),
        error_url: None,
        signature: None,
        key_descriptors,
        organization: None,
        contact_people: Vec::new(),
        artifact_resolution_service: Vec::new(),
        single_logout_services: Vec::new(),
        manage_name_id_services: Vec::new(),
        name_id_formats: vec!["urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".to_string()],
        want_authn_requests_signed: Some(false),
        single_sign_on_services: vec![
            Endpoint {
                binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect".to_string(),
                location: sso_url.to_string(),
                response_location: None,
            },
            Endpoint {
                binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST".to_string(),
                location: sso_url.to_string(),
                response_location: None,
            },
        ],
        name_id_mapping_services: Vec::new(),
        assertion_id_request_services: Vec::new(),
        attribute_profiles: Vec::new(),
        attributes: Vec::new(),
    };
    let descriptor = EntityDescriptor {
        entity_id: Some(entity_id.to_string()),
        idp_sso_descriptors: Some(vec![idp]),
        ..EntityDescriptor::default()
    };
    let xml = descriptor
        .to_string()
        .map_err(|e| anyhow::anyhow!("cannot render metadata: {e}"))?;
    // samael writes the XML declaration itself; a second one would make the document invalid.
    if xml.starts_with("<?xml") {
        Ok(xml)
    } else {
        Ok(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{xml}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn metadata_lists_every_certificate_and_parses_back() {
        let xml = idp_metadata(
            "https://broker.example.com/saml/metadata",
            "https://broker.example.com/saml/sso",
            &["AAAA".into(), "BBBB".into()],
        )
        .expect("renders");
        assert!(xml.starts_with("<?xml"), "no BOM, declaration first");
        assert_eq!(
            xml.matches("<?xml").count(),
            1,
            "exactly one XML declaration"
        );
        let parsed = EntityDescriptor::from_str(&xml).expect("parses");
        assert_eq!(
            parsed.entity_id.as_deref(),
            Some("https://broker.example.com/saml/metadata")
        );
        let idp = &parsed.idp_sso_descriptors.expect("idp")[0];
        let certs: Vec<_> = idp
            .key_descriptors
            .iter()
            .flat_map(|k| k.key_info.x509_data.clone().expect("x509").certificates)
            .collect();
        assert_eq!(certs, vec!["AAAA", "BBBB"]);
    }
}
