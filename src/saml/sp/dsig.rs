//! XML-DSig verification of one enveloped signature over the element that holds it.
//!
//! Deliberately narrow, because breadth is where signature wrapping lives: the `Signature`
//! must be a direct child of the element it signs, carry exactly one `Reference`, and that
//! Reference must name the holder's own `ID`. The transforms must be enveloped-signature and
//! exclusive canonicalization, nothing else. The keys come from the identity provider's
//! metadata only; whatever `KeyInfo` the message carries is ignored.

use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;

use super::c14n::canonicalize;
use super::tree::{NodeId, Tree};

pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Why a signature does not count.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the signature is malformed: {0}")]
    Malformed(String),
    #[error("the signature uses the algorithm {0}, which is not accepted")]
    Algorithm(String),
    #[error("the signature uses SHA-1, which this source does not allow (allow_sha1)")]
    Sha1,
    #[error("the signature covers another element than the one that holds it")]
    WrongReference,
    #[error("the signed content was changed (digest mismatch)")]
    Digest,
    #[error("the signature was not made by a key in the identity provider's metadata")]
    UntrustedKey,
}

/// The one `ds:Signature` child of `holder`: `Ok(None)` without one, an error with several.
pub fn signature_of(tree: &Tree, holder: NodeId) -> Result<Option<NodeId>, SignatureError> {
    let mut it = tree.children_named(holder, DSIG, "Signature");
    let first = it.next();
    if it.next().is_some() {
        return Err(SignatureError::Malformed("more than one Signature".into()));
    }
    Ok(first)
}

fn digest_of(uri: &str, allow_sha1: bool) -> Result<MessageDigest, SignatureError> {
    match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => Ok(MessageDigest::sha256()),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Ok(MessageDigest::sha384()),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Ok(MessageDigest::sha512()),
        "http://www.w3.org/2000/09/xmldsig#sha1" if allow_sha1 => Ok(MessageDigest::sha1()),
        "http://www.w3.org/2000/09/xmldsig#sha1" => Err(SignatureError::Sha1),
        other => Err(SignatureError::Algorithm(other.to_string())),
    }
}

fn signature_method(uri: &str, allow_sha1: bool) -> Result<MessageDigest, SignatureError> {
    match uri {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => Ok(MessageDigest::sha256()),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => Ok(MessageDigest::sha384()),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => Ok(MessageDigest::sha512()),
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" if allow_sha1 => Ok(MessageDigest::sha1()),
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => Err(SignatureError::Sha1),
        other => Err(SignatureError::Algorithm(other.to_string())),
    }
}

fn required(tree: &Tree, parent: NodeId, local: &str) -> Result<NodeId, SignatureError> {
    tree.only_child(parent, DSIG, local)
        .ok_or_else(|| SignatureError::Malformed(format!("expected exactly one {local}")))
}

fn algorithm(tree: &Tree, id: NodeId) -> Result<&str, SignatureError> {
    tree.attr(id, "Algorithm")
        .ok_or_else(|| SignatureError::Malformed("an Algorithm is missing".into()))
}

/// The `PrefixList` of an `InclusiveNamespaces` child of a c14n method element.
fn prefix_list(tree: &Tree, method: NodeId) -> Vec<String> {
    tree.children_named(method, EXC_C14N, "InclusiveNamespaces")
        .filter_map(|i| tree.attr(i, "PrefixList"))
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

fn base64(text: &str) -> Result<Vec<u8>, SignatureError> {
    super::verify::decode_base64(text)
        .ok_or_else(|| SignatureError::Malformed("a value is not base64".into()))
}

/// Verifies that `signature` (a direct child of `holder`) signs `holder` with one of `keys`.
pub fn verify(
    tree: &Tree,
    holder: NodeId,
    signature: NodeId,
    keys: &[PKey<Public>],
    allow_sha1: bool,
) -> Result<(), SignatureError> {
    if tree.nodes[signature].parent != Some(holder) {
        return Err(SignatureError::WrongReference);
    }
    let signed_info = required(tree, signature, "SignedInfo")?;
    let c14n_method = required(tree, signed_info, "CanonicalizationMethod")?;
    let c14n_alg = algorithm(tree, c14n_method)?;
    if c14n_alg != EXC_C14N {
        return Err(SignatureError::Algorithm(c14n_alg.to_string()));
    }
    let sig_digest = signature_method(
        algorithm(tree, required(tree, signed_info, "SignatureMethod")?)?,
        allow_sha1,
    )?;
    let reference = required(tree, signed_info, "Reference")?;
    let holder_id = tree
        .attr(holder, "ID")
        .filter(|id| !id.is_empty())
        .ok_or(SignatureError::WrongReference)?;
    match tree.attr(reference, "URI") {
        Some(uri) if uri.strip_prefix('#') == Some(holder_id) => {}
        _ => return Err(SignatureError::WrongReference),
    }
    let transforms = required(tree, reference, "Transforms")?;
    let mut enveloped = false;
    let mut exclusive = None;
    for t in tree.child_elements(transforms) {
        if !tree.is(t, DSIG, "Transform") {
            return Err(SignatureError::Malformed(
                "unexpected element in Transforms".into(),
            ));
        }
        match algorithm(tree, t)? {
            ENVELOPED if !enveloped && exclusive.is_none() => enveloped = true,
            EXC_C14N if exclusive.is_none() => exclusive = Some(prefix_list(tree, t)),
            other => return Err(SignatureError::Algorithm(other.to_string())),
        }
    }
    let inclusive = match (enveloped, exclusive) {
        (true, Some(list)) => list,
        _ => {
            return Err(SignatureError::Malformed(
                "the transforms must be enveloped-signature and exclusive c14n".into(),
            ))
        }
    };
    let digest_alg = digest_of(
        algorithm(tree, required(tree, reference, "DigestMethod")?)?,
        allow_sha1,
    )?;
    let expected = base64(&tree.text(required(tree, reference, "DigestValue")?))?;
    let signed = canonicalize(tree, holder, Some(signature), &inclusive);
    let actual = hash(digest_alg, signed.as_bytes()).map_err(|_| SignatureError::Digest)?;
    if actual.len() != expected.len() || !openssl::memcmp::eq(&actual, &expected) {
        return Err(SignatureError::Digest);
    }
    let info = canonicalize(tree, signed_info, None, &prefix_list(tree, c14n_method));
    let value = base64(&tree.text(required(tree, signature, "SignatureValue")?))?;
    for key in keys {
        let ok = Verifier::new(sig_digest, key)
            .and_then(|mut v| v.verify_oneshot(&value, info.as_bytes()))
            .unwrap_or(false);
        if ok {
            return Ok(());
        }
    }
    Err(SignatureError::UntrustedKey)
}
