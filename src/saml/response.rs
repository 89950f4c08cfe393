//! The SAML Response AWS sign-in and STS accept, built and signed in one pass.
//!
//! AWS requires: `Destination` and the bearer `SubjectConfirmationData/@Recipient` equal to the
//! ACS URL the browser posts to; `NotOnOrAfter` on both the confirmation and `Conditions`; the
//! partition's `Audience`; a `NameID`; the `Role` and `RoleSessionName` attributes; at most
//! 100,000 base64 characters. Signatures are RSA-SHA256 over exclusive-c14n with SHA-256 digests.
//! The Assertion is always signed (`enveloped-signature` + `exc-c14n`); the Response optionally too.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::base64_field::Base64;

use super::sign::XmlSigner;
use super::xml::{push_attr, push_text, xml_safe};
use crate::domain::aws::{
    AwsRuleError, Partition, RolePair, RoleSessionName, SessionDuration, SessionTags,
    SourceIdentity, MAX_SAML_RESPONSE_BASE64,
};

const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const ATTR: &str = "https://aws.amazon.com/SAML/Attributes/";
const URI_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";

/// Everything that goes into one Response.
#[derive(Debug, Clone)]
pub struct AwsAssertion<'a> {
    pub issuer: &'a str,
    pub acs_url: &'a str,
    pub partition: Partition,
    pub name_id: &'a str,
    pub roles: &'a [RolePair],
    pub session_name: &'a RoleSessionName,
    pub source_identity: Option<&'a SourceIdentity>,
    pub session_duration: Option<SessionDuration>,
    pub tags: &'a SessionTags,
    pub issued_at: DateTime<Utc>,
    pub validity_secs: i64,
    pub skew_secs: i64,
}

/// Why no Response was produced.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// One or more AWS rules would be broken; nothing was signed.
    #[error("the assertion would break AWS rules: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Preflight(Vec<AwsRuleError>),
    /// The signature could not be made.
    #[error("signing failed: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

/// A signed Response, ready to post.
#[derive(Debug, Clone)]
pub struct SignedResponse {
    pub xml: String,
    /// What goes into the `SAMLResponse` form field.
    pub base64: Base64,
    pub response_id: String,
    pub assertion_id: String,
    pub not_on_or_after: DateTime<Utc>,
}

fn saml_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A fresh XML ID: `_` and 160 random bits in hex (an NCName, as SAML requires).
pub fn new_id() -> String {
    super::xml::random_id("_")
}

/// Checks the rules that span several values (each value's own rules hold by construction).
pub fn preflight(a: &AwsAssertion<'_>) -> Result<(), Vec<AwsRuleError>> {
    let mut errors = Vec::new();
    if a.roles.is_empty() {
        errors.push(AwsRuleError {
            attribute: "Role".into(),
            value: String::new(),
            rule: "is empty, and AWS rejects an assertion without a Role".into(),
            fix: "the user needs at least one mapped role".into(),
        });
    }
    for pair in a.roles {
        if pair.role.partition() != a.partition {
            errors.push(AwsRuleError {
                attribute: "Role".into(),
                value: pair.role.to_string(),
                rule: format!(
                    "is in partition {}, but this broker signs for {} (audience {})",
                    pair.role.partition(),
                    a.partition,
                    a.partition.audience()
                ),
                fix: "fix the mapping rule, or set saml.partition".into(),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn attribute(out: &mut String, name: &str, values: &[&str]) {
    out.push_str("<saml:Attribute Name=\"");
    push_attr(out, &format!("{ATTR}{name}"));
    out.push_str("\" NameFormat=\"");
    out.push_str(URI_FORMAT);
    out.push_str("\">");
    for v in values {
        out.push_str("<saml:AttributeValue>");
        push_text(out, &xml_safe(v));
        out.push_str("</saml:AttributeValue>");
    }
    out.push_str("</saml:Attribute>");
}

/// The Assertion in canonical form, with `signature` inserted after `Issuer` when given.
pub fn assertion_xml(a: &AwsAssertion<'_>, id: &str, signature: Option<&str>) -> String {
    let now = saml_time(a.issued_at);
    let not_before = saml_time(a.issued_at - Duration::seconds(a.skew_secs));
    let expires = saml_time(a.issued_at + Duration::seconds(a.validity_secs));
    let mut x = String::with_capacity(4096);
    x.push_str("<saml:Assertion xmlns:saml=\"");
    x.push_str(NS_SAML);
    x.push_str("\" ID=\"");
    x.push_str(id);
    x.push_str("\" IssueInstant=\"");
    x.push_str(&now);
    x.push_str("\" Version=\"2.0\"><saml:Issuer>");
    push_text(&mut x, a.issuer);
    x.push_str("</saml:Issuer>");
    if let Some(sig) = signature {
        x.push_str(sig);
    }
    x.push_str("<saml:Subject><saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\">");
    push_text(&mut x, &xml_safe(a.name_id));
    x.push_str("</saml:NameID><saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><saml:SubjectConfirmationData NotOnOrAfter=\"");
    x.push_str(&expires);
    x.push_str("\" Recipient=\"");
    push_attr(&mut x, a.acs_url);
    x.push_str("\"></saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore=\"");
    x.push_str(&not_before);
    x.push_str("\" NotOnOrAfter=\"");
    x.push_str(&expires);
    x.push_str("\"><saml:AudienceRestriction><saml:Audience>");
    x.push_str(a.partition.audience());
    x.push_str("</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant=\"");
    x.push_str(&now);
    x.push_str("\" SessionIndex=\"");
    x.push_str(id);
    x.push_str("\"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>");
    let roles: Vec<String> = a.roles.iter().map(RolePair::attribute_value).collect();
    let role_refs: Vec<&str> = roles.iter().map(String::as_str).collect();
    attribute(&mut x, "Role", &role_refs);
    attribute(&mut x, "RoleSessionName", &[a.session_name.as_str()]);
    if let Some(si) = a.source_identity {
        attribute(&mut x, "SourceIdentity", &[si.as_str()]);
    }
    if let Some(d) = a.session_duration {
        attribute(&mut x, "SessionDuration", &[&d.secs().to_string()]);
    }
    for (key, value) in a.tags.tags() {
        attribute(&mut x, &format!("PrincipalTag:{key}"), &[value]);
    }
    if !a.tags.transitive().is_empty() {
        let keys: Vec<&str> = a.tags.transitive().iter().map(String::as_str).collect();
        attribute(&mut x, "TransitiveTagKeys", &keys);
    }
    x.push_str("</saml:AttributeStatement></saml:Assertion>");
    x
}

fn response_xml(
    a: &AwsAssertion<'_>,
    id: &str,
    assertion: &str,
    signature: Option<&str>,
) -> String {
    let mut x = String::with_capacity(assertion.len() + 2048);
    x.push_str("<samlp:Response xmlns:samlp=\"");
    x.push_str(NS_SAMLP);
    x.push_str("\" Destination=\"");
    push_attr(&mut x, a.acs_url);
    x.push_str("\" ID=\"");
    x.push_str(id);
    x.push_str("\" IssueInstant=\"");
    x.push_str(&saml_time(a.issued_at));
    // The Issuer declares its own namespace (not the Response), so that exclusive c14n of the
    // Response renders every declaration exactly where it is written.
    x.push_str("\" Version=\"2.0\"><saml:Issuer xmlns:saml=\"");
    x.push_str(NS_SAML);
    x.push_str("\">");
    push_text(&mut x, a.issuer);
    x.push_str("</saml:Issuer>");
    if let Some(sig) = signature {
        x.push_str(sig);
    }
    x.push_str("<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"></samlp:StatusCode></samlp:Status>");
    x.push_str(assertion);
    x.push_str("</samlp:Response>");
    x
}

/// Builds `<ds:SignedInfo>` for a reference: (canonical form for signing, form in the document).
fn signed_info(reference_id: &str, digest_b64: &str) -> (String, String) {
    let body = format!(
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:CanonicalizationMethod>\
         <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"></ds:SignatureMethod>\
         <ds:Reference URI=\"#{reference_id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"></ds:Transform>\
         <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:Transform></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod>\
         <ds:DigestValue>{digest_b64}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
    );
    // Canonicalised on its own, SignedInfo carries the ds declaration it inherits in the document.
    (
        format!("<ds:SignedInfo xmlns:ds=\"{NS_DS}\">{body}"),
        format!("<ds:SignedInfo>{body}"),
    )
}

/// An enveloped signature over `canonical` (the element without its signature).
fn signature(
    signer: &XmlSigner,
    reference_id: &str,
    canonical: &str,
) -> Result<String, ResponseError> {
    let digest = STANDARD.encode(Sha256::digest(canonical.as_bytes()));
    let (to_sign, in_doc) = signed_info(reference_id, &digest);
    let value = STANDARD.encode(signer.sign(to_sign.as_bytes())?);
    Ok(format!(
        "<ds:Signature xmlns:ds=\"{NS_DS}\">{in_doc}<ds:SignatureValue>{value}</ds:SignatureValue>\
         <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        signer.cert_b64()
    ))
}

/// Runs the pre-flight checks, then builds and signs the Response. Nothing half-valid is
/// returned: either every AWS rule holds, or the violations are.
pub fn sign_aws_response(
    a: &AwsAssertion<'_>,
    signer: &XmlSigner,
    sign_response: bool,
) -> Result<SignedResponse, ResponseError> {
    sign_aws_response_for(a, signer, sign_response, None)
}

/// [`sign_aws_response`], with the signed Assertion encrypted for `encrypt_for` (an IAM SAML
/// provider that takes encrypted assertions). The size limit applies to what is sent: the
/// encrypted form.
pub fn sign_aws_response_for(
    a: &AwsAssertion<'_>,
    signer: &XmlSigner,
    sign_response: bool,
    encrypt_for: Option<&super::encrypt::EncryptionKey>,
) -> Result<SignedResponse, ResponseError> {
    preflight(a).map_err(ResponseError::Preflight)?;
    let assertion_id = new_id();
    let response_id = new_id();
    let unsigned = assertion_xml(a, &assertion_id, None);
    let sig = signature(signer, &assertion_id, &unsigned)?;
    let assertion = assertion_xml(a, &assertion_id, Some(&sig));
    let assertion = match encrypt_for {
        Some(key) => super::encrypt::encrypt_assertion(&assertion, key)?,
        None => assertion,
    };
    let xml = if sign_response {
        let unsigned = response_xml(a, &response_id, &assertion, None);
        let sig = signature(signer, &response_id, &unsigned)?;
        response_xml(a, &response_id, &assertion, Some(&sig))
    } else {
        response_xml(a, &response_id, &assertion, None)
    };
    let base64 = Base64::encode(xml.as_bytes());
    if base64.len() > MAX_SAML_RESPONSE_BASE64 {
        return Err(ResponseError::Preflight(vec![AwsRuleError {
            attribute: "SAMLResponse".into(),
            value: format!("{} base64 characters with {} roles", base64.len(), a.roles.len()),
            rule: format!("is larger than the {MAX_SAML_RESPONSE_BASE64} characters AWS accepts"),
            fix: "offer fewer roles per assertion (turn off saml.multi_role_chooser) or send fewer tags".into(),
        }]));
    }
    Ok(SignedResponse {
        xml,
        base64,
        response_id,
        assertion_id,
        not_on_or_after: a.issued_at + Duration::seconds(a.validity_secs),
    })
}

/// The Response as it would be sent, before signing: for the admin dry run.
pub fn unsigned_response_xml(a: &AwsAssertion<'_>) -> String {
    let assertion = assertion_xml(a, "_preview-assertion", None);
    response_xml(a, "_preview-response", &assertion, None)
}
