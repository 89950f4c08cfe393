//! The broker's service-provider metadata for one upstream identity provider: what an
//! administrator uploads to AD FS, Okta, Entra ID or SimpleSAMLphp.

use crate::saml::xml::xml_safe;

/// The endpoints and certificates of one SAML source.
pub struct SpDescription<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    pub slo_url: &'a str,
    /// Base64 DER of every published key: each signs requests and receives encrypted assertions.
    pub certificates: &'a [String],
    pub sign_authn_requests: bool,
}

/// The `EntityDescriptor` XML.
pub fn sp_metadata(d: &SpDescription<'_>) -> String {
    let mut keys = String::new();
    for cert in d.certificates {
        for usage in ["signing", "encryption"] {
            keys.push_str(&format!(
                "<md:KeyDescriptor use=\"{usage}\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}\
                 </ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
            ));
            if usage == "encryption" {
                for alg in [
                    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
                    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
                    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
                    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
                    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
                ] {
                    keys.push_str(&format!("<md:EncryptionMethod Algorithm=\"{alg}\"/>"));
                }
            }
            keys.push_str("</md:KeyDescriptor>");
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" \
         xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{}\">\
         <md:SPSSODescriptor AuthnRequestsSigned=\"{}\" WantAssertionsSigned=\"true\" \
         protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{keys}\
         <md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{}\"/>\
         <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" \
         Location=\"{}\" index=\"0\" isDefault=\"true\"/></md:SPSSODescriptor></md:EntityDescriptor>\n",
        xml_safe(d.entity_id),
        d.sign_authn_requests,
        xml_safe(d.slo_url),
        xml_safe(d.acs_url),
    )
}
