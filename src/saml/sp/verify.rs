//! Everything a SAML Response from an upstream identity provider must pass before the broker
//! believes who it names. Each refusal is a [`Refusal`] whose text the login page shows and the
//! audit log keeps.
//!
//! Against signature wrapping the rule is structural: the document may hold exactly one
//! `Assertion` (or `EncryptedAssertion`), as a direct child of the `Response`; every `ID` is
//! unique; and a signature counts only as a direct child of the element it signs, naming that
//! element's `ID`. The values are then read from the same tree nodes the signature covered.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::pkey::{PKey, Private, Public};

use super::decrypt::{decrypt_assertion, DecryptError};
use super::dsig::{signature_of, verify, SignatureError};
use super::tree::{NodeId, Tree, TreeError};

pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// The largest `SAMLResponse` accepted, base64 as posted. Real responses with hundreds of
/// groups stay well below it.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// What the broker trusts about one identity provider (from its metadata and settings).
pub struct IdpTrust {
    pub entity_id: String,
    pub keys: Vec<PKey<Public>>,
    pub allow_sha1: bool,
}

/// What this response must be addressed to and answer.
pub struct Expected<'a> {
    /// The broker's SP entityID for this source (the Audience).
    pub audience: &'a str,
    /// This source's ACS URL (Destination and Recipient).
    pub acs_url: &'a str,
    /// The ID of the AuthnRequest this browser sent, if it sent one.
    pub request_id: Option<&'a str>,
    /// Whether a response that answers no request (IdP-initiated) is accepted.
    pub allow_unsolicited: bool,
    pub now: i64,
    pub skew_secs: i64,
}

/// A verified assertion, read from the signed nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub assertion_id: String,
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: String,
    pub session_index: Option<String>,
    /// Until when this assertion could be presented: its ID is remembered that long.
    pub valid_until: i64,
    /// Attribute values by `Name` (and by `FriendlyName` where one is given).
    pub attributes: BTreeMap<String, Vec<String>>,
    pub in_response_to: Option<String>,
    /// Whether the assertion arrived encrypted.
    pub encrypted: bool,
}

/// Why a response was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("the SAML response is larger than {} KiB", MAX_RESPONSE_BYTES / 1024)]
    TooLarge,
    #[error("the SAML response is not base64-encoded UTF-8")]
    Encoding,
    #[error("{0}")]
    Xml(#[from] TreeError),
    #[error("the message is not a SAML 2.0 Response")]
    NotAResponse,
    #[error("the response holds {0} assertions where exactly one belongs (signature wrapping?)")]
    AssertionCount(usize),
    #[error("the assertion is not where a Response carries it (signature wrapping?)")]
    MisplacedAssertion,
    #[error("the ID `{0}` appears twice in the response (signature wrapping?)")]
    DuplicateId(String),
    #[error("the identity provider answered with status {0}")]
    Status(String),
    #[error("the issuer `{found}` is not the configured identity provider `{expected}`")]
    Issuer { found: String, expected: String },
    #[error("the response is addressed to `{0}`, not to this broker's ACS URL")]
    Destination(String),
    #[error("the response answers another sign-in (InResponseTo `{0}`)")]
    InResponseTo(String),
    #[error("an unsolicited response arrived, and this source does not allow IdP-initiated sign-in (allow_idp_initiated)")]
    Unsolicited,
    #[error("neither the response nor the assertion is signed")]
    Unsigned,
    #[error("the response signature does not verify: {0}")]
    ResponseSignature(SignatureError),
    #[error("the assertion signature does not verify: {0}")]
    AssertionSignature(SignatureError),
    #[error("{0}")]
    Decrypt(#[from] DecryptError),
    #[error("the assertion is missing {0}")]
    Missing(&'static str),
    #[error("the timestamp `{0}` is not an xs:dateTime")]
    Time(String),
    #[error("the assertion is not valid before {0} (check the clocks; allowed_clock_skew_secs)")]
    NotYetValid(String),
    #[error("the assertion expired at {0}")]
    Expired(String),
    #[error("the assertion is for audience {0:?}, not for this broker")]
    Audience(Vec<String>),
    #[error("no bearer SubjectConfirmation names this broker's ACS URL as Recipient and is current: {0}")]
    Confirmation(String),
    #[error("the assertion `{0}` was already used (replay)")]
    Replay(String),
}

impl Refusal {
    /// A short, stable reason code for the audit log and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::TooLarge => "too_large",
            Refusal::Encoding => "encoding",
            Refusal::Xml(TreeError::Doctype) => "doctype",
            Refusal::Xml(TreeError::Entity(_)) => "entity",
            Refusal::Xml(_) => "malformed_xml",
            Refusal::NotAResponse => "not_a_response",
            Refusal::AssertionCount(_) => "assertion_count",
            Refusal::MisplacedAssertion => "assertion_place",
            Refusal::DuplicateId(_) => "duplicate_id",
            Refusal::Status(_) => "status",
            Refusal::Issuer { .. } => "issuer",
            Refusal::Destination(_) => "destination",
            Refusal::InResponseTo(_) => "in_response_to",
            Refusal::Unsolicited => "unsolicited",
            Refusal::Unsigned => "unsigned",
            Refusal::ResponseSignature(SignatureError::Sha1)
            | Refusal::AssertionSignature(SignatureError::Sha1) => "sha1",
            Refusal::ResponseSignature(SignatureError::UntrustedKey)
            | Refusal::AssertionSignature(SignatureError::UntrustedKey) => "untrusted_key",
            Refusal::ResponseSignature(_) | Refusal::AssertionSignature(_) => "bad_signature",
            Refusal::Decrypt(_) => "decrypt",
            Refusal::Missing(_) => "missing",
            Refusal::Time(_) => "time",
            Refusal::NotYetValid(_) => "not_yet_valid",
            Refusal::Expired(_) => "expired",
            Refusal::Audience(_) => "audience",
            Refusal::Confirmation(_) => "confirmation",
            Refusal::Replay(_) => "replay",
        }
    }

    /// Whether a fresh copy of the identity provider's metadata could turn this refusal into
    /// an acceptance (a rotated signing key).
    pub fn may_need_fresh_metadata(&self) -> bool {
        matches!(
            self,
            Refusal::ResponseSignature(SignatureError::UntrustedKey)
                | Refusal::AssertionSignature(SignatureError::UntrustedKey)
        )
    }
}

/// Base64 as XML carries it: line breaks and spaces allowed (and only then copied out).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        STANDARD.decode(compact).ok()
    } else {
        STANDARD.decode(text).ok()
    }
}

fn time(s: &str) -> Result<i64, Refusal> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp())
        .map_err(|_| Refusal::Time(s.to_string()))
}

fn show(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// Every `ID` unique, and exactly one (encrypted) assertion, directly under the root.
fn check_structure(
    tree: &Tree,
    root: NodeId,
    allow_nested_in_root: bool,
) -> Result<Option<NodeId>, Refusal> {
    let mut ids = BTreeSet::new();
    for e in tree.elements() {
        if let Some(id) = tree.attr(e, "ID") {
            if !ids.insert(id) {
                return Err(Refusal::DuplicateId(id.to_string()));
            }
        }
    }
    let assertions: Vec<NodeId> = tree
        .elements()
        .filter(|e| tree.is(*e, SAML, "Assertion") || tree.is(*e, SAML, "EncryptedAssertion"))
        .collect();
    if allow_nested_in_root {
        // The tree is a decrypted assertion: it is the only one.
        return match assertions.as_slice() {
            [only] if *only == root => Ok(Some(root)),
            other => Err(Refusal::AssertionCount(other.len())),
        };
    }
    match assertions.as_slice() {
        [only] if tree.nodes[*only].parent == Some(root) => Ok(Some(*only)),
        [_] => Err(Refusal::MisplacedAssertion),
        [] => Ok(None),
        other => Err(Refusal::AssertionCount(other.len())),
    }
}

/// Verifies a posted `SAMLResponse` (base64) and reads the assertion it carries.
pub fn verify_response(
    saml_response: &str,
    trust: &IdpTrust,
    expected: &Expected<'_>,
    decryption_keys: &[PKey<Private>],
) -> Result<Verified, Refusal> {
    if saml_response.len() > MAX_RESPONSE_BYTES {
        return Err(Refusal::TooLarge);
    }
    let bytes = decode_base64(saml_response).ok_or(Refusal::Encoding)?;
    let xml = String::from_utf8(bytes).map_err(|_| Refusal::Encoding)?;
    let tree = Tree::parse(&xml)?;
    let root = 0;
    if !tree.is(root, SAMLP, "Response") || tree.attr(root, "Version") != Some("2.0") {
        return Err(Refusal::NotAResponse);
    }
    let carried = check_structure(&tree, root, false)?;

    let status = tree
        .only_child(root, SAMLP, "Status")
        .and_then(|s| tree.only_child(s, SAMLP, "StatusCode"))
        .ok_or(Refusal::Missing("a Status"))?;
    let code = tree.attr(status, "Value").unwrap_or_default();
    if code != SUCCESS {
        let sub = tree
            .only_child(status, SAMLP, "StatusCode")
            .and_then(|s| tree.attr(s, "Value"))
            .map(|s| format!(" / {}", s.rsplit(':').next().unwrap_or(s)))
            .unwrap_or_default();
        let message = tree
            .only_child(root, SAMLP, "Status")
            .and_then(|s| tree.only_child(s, SAMLP, "StatusMessage"))
            .map(|m| format!(" ({})", tree.text(m).trim()))
            .unwrap_or_default();
        return Err(Refusal::Status(format!(
            "{}{sub}{message}",
            code.rsplit(':').next().unwrap_or(code)
        )));
    }
    if let Some(issuer) = tree.only_child(root, SAML, "Issuer") {
        let found = tree.text(issuer).trim().to_string();
        if found != trust.entity_id {
            return Err(Refusal::Issuer {
                found,
                expected: trust.entity_id.clone(),
            });
        }
    }
    // Signatures first: a forged message is reported as forged, whatever else it claims.
    let mut signed = false;
    if let Some(sig) = signature_of(&tree, root).map_err(Refusal::ResponseSignature)? {
        verify(&tree, root, sig, &trust.keys, trust.allow_sha1)
            .map_err(Refusal::ResponseSignature)?;
        signed = true;
    }
    let carried = carried.ok_or(Refusal::AssertionCount(0))?;

    // The assertion in its own tree when it arrived encrypted.
    let decrypted;
    let (atree, assertion) = if tree.is(carried, SAML, "EncryptedAssertion") {
        let plain = decrypt_assertion(&tree, carried, decryption_keys)?;
        let context: Vec<(String, String)> = tree.in_scope(carried).into_iter().collect();
        decrypted = Tree::parse_in(&plain, &context)?;
        if !decrypted.is(0, SAML, "Assertion") {
            return Err(Refusal::Missing(
                "an Assertion inside the EncryptedAssertion",
            ));
        }
        check_structure(&decrypted, 0, true)?;
        (&decrypted, 0)
    } else {
        (&tree, carried)
    };
    if let Some(sig) = signature_of(atree, assertion).map_err(Refusal::AssertionSignature)? {
        verify(atree, assertion, sig, &trust.keys, trust.allow_sha1)
            .map_err(Refusal::AssertionSignature)?;
        signed = true;
    }
    if !signed {
        return Err(Refusal::Unsigned);
    }
    match tree.attr(root, "Destination") {
        Some(d) if d == expected.acs_url => {}
        Some(d) => return Err(Refusal::Destination(d.to_string())),
        None => return Err(Refusal::Missing("the Response Destination")),
    }
    let response_answers = tree.attr(root, "InResponseTo").map(str::to_string);
    check_in_response_to(response_answers.as_deref(), expected.request_id)?;
    let mut verified = read_assertion(atree, assertion, trust, expected, response_answers)?;
    verified.encrypted = tree.is(carried, SAML, "EncryptedAssertion");
    Ok(verified)
}

fn check_in_response_to(found: Option<&str>, expected: Option<&str>) -> Result<(), Refusal> {
    match (found, expected) {
        (None, _) => Ok(()),
        (Some(f), Some(e)) if f == e => Ok(()),
        (Some(f), _) => Err(Refusal::InResponseTo(f.to_string())),
    }
}

fn read_assertion(
    tree: &Tree,
    a: NodeId,
    trust: &IdpTrust,
    expected: &Expected<'_>,
    response_answers: Option<String>,
) -> Result<Verified, Refusal> {
    let now = expected.now;
    let skew = expected.skew_secs;
    let assertion_id = tree
        .attr(a, "ID")
        .ok_or(Refusal::Missing("an ID"))?
        .to_string();
    let issuer = tree
        .only_child(a, SAML, "Issuer")
        .map(|i| tree.text(i).trim().to_string())
        .ok_or(Refusal::Missing("an Issuer"))?;
    if issuer != trust.entity_id {
        return Err(Refusal::Issuer {
            found: issuer,
            expected: trust.entity_id.clone(),
        });
    }
    let subject = tree
        .only_child(a, SAML, "Subject")
        .ok_or(Refusal::Missing("a Subject"))?;
    let name_id = tree
        .only_child(subject, SAML, "NameID")
        .ok_or(Refusal::Missing(
            "a NameID (an encrypted NameID is not supported)",
        ))?;
    let name_id_format = tree.attr(name_id, "Format").unwrap_or_default().to_string();
    let name_id = tree.text(name_id).trim().to_string();
    if name_id.is_empty() {
        return Err(Refusal::Missing("a NameID value"));
    }

    // Conditions: times and audience.
    let conditions = tree
        .only_child(a, SAML, "Conditions")
        .ok_or(Refusal::Missing("Conditions"))?;
    let mut valid_until = now;
    if let Some(nb) = tree.attr(conditions, "NotBefore") {
        let nb = time(nb)?;
        if now + skew < nb {
            return Err(Refusal::NotYetValid(show(nb)));
        }
    }
    if let Some(na) = tree.attr(conditions, "NotOnOrAfter") {
        let na = time(na)?;
        if now - skew >= na {
            return Err(Refusal::Expired(show(na)));
        }
        valid_until = valid_until.max(na);
    }
    let restrictions: Vec<NodeId> = tree
        .children_named(conditions, SAML, "AudienceRestriction")
        .collect();
    if restrictions.is_empty() {
        return Err(Refusal::Missing("an AudienceRestriction"));
    }
    for r in restrictions {
        let audiences: Vec<String> = tree
            .children_named(r, SAML, "Audience")
            .map(|x| tree.text(x).trim().to_string())
            .collect();
        if !audiences.iter().any(|x| x == expected.audience) {
            return Err(Refusal::Audience(audiences));
        }
    }

    // A bearer confirmation for this ACS, current, answering this request.
    let mut why = String::from("none is present");
    let mut confirmed = None;
    for c in tree.children_named(subject, SAML, "SubjectConfirmation") {
        if tree.attr(c, "Method") != Some(BEARER) {
            why = "no bearer method".into();
            continue;
        }
        let Some(data) = tree.only_child(c, SAML, "SubjectConfirmationData") else {
            why = "no SubjectConfirmationData".into();
            continue;
        };
        if tree.attr(data, "Recipient") != Some(expected.acs_url) {
            why = format!(
                "Recipient is `{}`",
                tree.attr(data, "Recipient").unwrap_or("")
            );
            continue;
        }
        let Some(na) = tree.attr(data, "NotOnOrAfter") else {
            why = "no NotOnOrAfter".into();
            continue;
        };
        let na = time(na)?;
        if now - skew >= na {
            return Err(Refusal::Expired(show(na)));
        }
        if let Some(nb) = tree.attr(data, "NotBefore") {
            let nb = time(nb)?;
            if now + skew < nb {
                return Err(Refusal::NotYetValid(show(nb)));
            }
        }
        let answers = tree.attr(data, "InResponseTo");
        check_in_response_to(answers, expected.request_id)?;
        confirmed = Some((na, answers.map(str::to_string)));
        break;
    }
    let (confirmed_until, answers) = confirmed.ok_or(Refusal::Confirmation(why))?;
    valid_until = valid_until.max(confirmed_until);
    let in_response_to = answers.or(response_answers);
    if in_response_to.is_none() && !expected.allow_unsolicited {
        return Err(Refusal::Unsolicited);
    }

    let session_index = tree
        .children_named(a, SAML, "AuthnStatement")
        .find_map(|s| tree.attr(s, "SessionIndex"))
        .map(str::to_string);
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in tree.children_named(a, SAML, "AttributeStatement") {
        for attr in tree.children_named(statement, SAML, "Attribute") {
            let values: Vec<String> = tree
                .children_named(attr, SAML, "AttributeValue")
                .map(|v| tree.text(v).trim().to_string())
                .collect();
            for key in [tree.attr(attr, "Name"), tree.attr(attr, "FriendlyName")]
                .into_iter()
                .flatten()
            {
                attributes
                    .entry(key.to_string())
                    .or_default()
                    .extend(values.iter().cloned());
            }
        }
    }
    Ok(Verified {
        assertion_id,
        issuer,
        name_id,
        name_id_format,
        session_index,
        valid_until,
        attributes,
        in_response_to,
        encrypted: false,
    })
}
