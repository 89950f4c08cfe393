//! Messages the broker sends to an upstream identity provider by the HTTP-Redirect binding:
//! the `AuthnRequest` of an SP-initiated sign-in and the `LogoutRequest` of single logout,
//! DEFLATE-compressed, base64-encoded and, when configured, signed over the query string
//! (SAML bindings §3.4.4.1) with the broker's active key.

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::saml::xml::xml_safe;

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// A fresh message ID (an NCName: letters first).
pub fn new_id() -> String {
    crate::saml::xml::random_id("_fb")
}

fn instant(now: i64) -> String {
    chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The `AuthnRequest` XML.
pub fn authn_request(
    id: &str,
    sp_entity_id: &str,
    acs_url: &str,
    sso_url: &str,
    now: i64,
) -> String {
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"{}\" Destination=\"{}\" AssertionConsumerServiceURL=\"{}\" \
         ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\">\
         <saml:Issuer>{}</saml:Issuer><samlp:NameIDPolicy AllowCreate=\"true\"/></samlp:AuthnRequest>",
        instant(now),
        xml_safe(sso_url),
        xml_safe(acs_url),
        xml_safe(sp_entity_id),
    )
}

/// The `LogoutRequest` XML for a person's session at the identity provider.
pub fn logout_request(
    id: &str,
    sp_entity_id: &str,
    slo_url: &str,
    name_id: &str,
    name_id_format: &str,
    session_index: Option<&str>,
    now: i64,
) -> String {
    let format = if name_id_format.is_empty() {
        String::new()
    } else {
        format!(" Format=\"{}\"", xml_safe(name_id_format))
    };
    let index = session_index
        .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", xml_safe(s)))
        .unwrap_or_default();
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"{}\" Destination=\"{}\"><saml:Issuer>{}</saml:Issuer>\
         <saml:NameID{format}>{}</saml:NameID>{index}</samlp:LogoutRequest>",
        instant(now),
        xml_safe(slo_url),
        xml_safe(sp_entity_id),
        xml_safe(name_id),
    )
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The URL that carries `message` to `endpoint` (as `SAMLRequest`), signed (RSA-SHA256 over
/// the query string) when `sign` is given.
pub fn redirect_url<S>(
    endpoint: &str,
    message: &str,
    relay_state: Option<&str>,
    sign: Option<S>,
) -> anyhow::Result<String>
where
    S: Fn(&[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack>,
{
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(message.as_bytes())?;
    let mut query = format!(
        "SAMLRequest={}",
        encode(&STANDARD.encode(deflater.finish()?))
    );
    if let Some(r) = relay_state {
        query.push_str(&format!("&RelayState={}", encode(r)));
    }
    if let Some(sign) = sign {
        query.push_str(&format!("&SigAlg={}", encode(RSA_SHA256)));
        let signature = sign(query.as_bytes())?;
        query.push_str(&format!(
            "&Signature={}",
            encode(&STANDARD.encode(signature))
        ));
    }
    let joiner = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!("{endpoint}{joiner}{query}"))
}
