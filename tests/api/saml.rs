//! Every Response shape fedbroker emits is checked by two independent verifiers: the `xmlsec1`
//! binary and a pysaml2 service provider configured like AWS sign-in (audience
//! `urn:amazon:webservices`, destination = the regional ACS, IdP metadata from fedbroker).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use chrono::Utc;
use fedbroker::domain::aws::{
    Partition, RoleArn, RolePair, RoleSessionName, SamlProviderArn, SessionDuration, SessionTags,
    SourceIdentity,
};
use fedbroker::saml::keys::generate;
use fedbroker::saml::metadata::idp_metadata;
use fedbroker::saml::response::{sign_aws_response, AwsAssertion, ResponseError};
use fedbroker::saml::sign::XmlSigner;

const ACS: &str = "https://us-east-2.signin.aws.amazon.com/saml";
const ISSUER: &str = "https://broker.example.com/saml/metadata";

pub use crate::peers::peers_dir as peers;

/// Verifies the signature on the element with `id` using the xmlsec1 binary.
pub fn xmlsec_verifies(dir: &Path, xml: &str, cert_pem: &str, id: &str) -> bool {
    xmlsec_verdict(dir, xml, cert_pem, id).0
}

/// xmlsec1's verdict on the signature of the element with `id`, and what it printed.
pub fn xmlsec_verdict(dir: &Path, xml: &str, cert_pem: &str, id: &str) -> (bool, String) {
    let doc = dir.join(format!("{id}.xml"));
    let cert = dir.join("idp.crt");
    std::fs::write(&doc, xml).expect("write xml");
    std::fs::write(&cert, cert_pem).expect("write cert");
    let out = Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(&cert)
        .args([
            "--enabled-key-data",
            "raw-x509-cert",
            "--enabled-reference-uris",
            "empty,same-doc",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--node-id",
            id,
        ])
        .arg(&doc)
        .output()
        .expect("xmlsec1 runs (installed by .ci/deps)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The certificates (base64 DER) a metadata document publishes.
pub fn published_certificates(metadata: &str) -> Vec<String> {
    metadata
        .split("<ds:X509Certificate>")
        .skip(1)
        .filter_map(|s| s.split("</ds:X509Certificate>").next())
        .map(|s| s.replace(['\n', '\r', ' '], ""))
        .collect()
}

pub fn pem(cert_b64: &str) -> String {
    let lines: Vec<String> = cert_b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).to_string())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The value of the first `name="…"` attribute after `after` in `xml`.
pub fn xml_attribute<'a>(xml: &'a str, after: &str, name: &str) -> Option<&'a str> {
    xml.split(after)
        .nth(1)?
        .split(&format!(" {name}=\""))
        .nth(1)?
        .split('"')
        .next()
}

/// Checks a Response the broker sent the way AWS would, trusting only what the broker
/// publishes at `/saml/metadata` (`metadata`): xmlsec1 must verify the Assertion's signature
/// (and the Response's, when signed) with one of the published certificates, then the pysaml2
/// SP, configured with that metadata and `acs`, must accept it (signature, issuer, audience
/// `urn:amazon:webservices`, Destination, Recipient, validity). Returns pysaml2's summary of the
/// verified assertion, or the refusal with the verifier's own reason.
pub fn verify_against_metadata(
    dir: &Path,
    b64: &str,
    acs: &str,
    metadata: &str,
) -> Result<serde_json::Value, String> {
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("not base64: {e}"))?,
    )
    .map_err(|e| format!("not UTF-8: {e}"))?;
    let response_signed = xml
        .split("<samlp:Status>")
        .next()
        .is_some_and(|head| head.contains("<ds:Signature"));
    let mut ids = vec![xml_attribute(&xml, "<saml:Assertion ", "ID").ok_or("no Assertion")?];
    if response_signed {
        ids.push(xml_attribute(&xml, "<samlp:Response ", "ID").ok_or("no Response ID")?);
    }
    let certs = published_certificates(metadata);
    for id in ids {
        let mut reasons = Vec::new();
        let verified = certs.iter().any(|c| {
            let (ok, out) = xmlsec_verdict(dir, &xml, &pem(c), id);
            reasons.push(out);
            ok
        });
        if !verified {
            return Err(format!(
                "xmlsec1: no published certificate verifies {id}: {}",
                reasons.join(" | ")
            ));
        }
    }
    let md_path = dir.join("published-metadata.xml");
    std::fs::write(&md_path, metadata).expect("write metadata");
    let (ok, out) = pysaml2_accepts(b64, acs, &md_path, response_signed);
    if !ok {
        return Err(format!("pysaml2: {out}"));
    }
    // pysaml2 tries each published certificate, so xmlsec1's complaints about the others may
    // precede the summary, which is the last line.
    let summary = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or("");
    serde_json::from_str(summary).map_err(|e| format!("pysaml2 summary {out}: {e}"))
}

/// Seconds between two SAML instants (`b - a`).
pub fn seconds_between(a: &serde_json::Value, b: &serde_json::Value) -> i64 {
    let t = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("`{v}` is a SAML instant: {e}"))
            .timestamp()
    };
    t(b) - t(a)
}

/// Asserts what a verifier read of a Response's validity window: it lives exactly
/// `validity` seconds (Conditions and the bearer confirmation) and starts `skew` seconds
/// before it was issued.
pub fn assert_lifetime(summary: &serde_json::Value, validity: i64, skew: i64) {
    let issued = &summary["issue_instant"];
    assert_eq!(
        seconds_between(issued, &summary["not_on_or_after"]),
        validity,
        "Conditions NotOnOrAfter - IssueInstant: {summary}"
    );
    assert_eq!(
        seconds_between(issued, &summary["confirmation_not_on_or_after"]),
        validity,
        "SubjectConfirmationData NotOnOrAfter - IssueInstant: {summary}"
    );
    assert_eq!(
        seconds_between(&summary["not_before"], issued),
        skew,
        "IssueInstant - NotBefore: {summary}"
    );
}

/// Asks the pysaml2 SP whether it accepts a base64 SAMLResponse; returns (accepted, its output).
pub fn pysaml2_accepts(
    b64: &str,
    acs: &str,
    metadata: &Path,
    want_response_signed: bool,
) -> (bool, String) {
    let mut cmd = Command::new(peers().join(".venv/bin/python"));
    cmd.arg(peers().join("saml_sp.py"))
        .args(["check", "--acs", acs, "--metadata"])
        .arg(metadata);
    if want_response_signed {
        cmd.arg("--want-response-signed");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pysaml2 peer runs (installed by .ci/deps)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b64.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("finishes");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

struct Shape {
    name: &'static str,
    roles: usize,
    tags: bool,
    sign_response: bool,
}

/// An assertion for `roles` to [`ACS`], issued now, with no SourceIdentity or duration.
fn plain_assertion<'a>(
    roles: &'a [RolePair],
    session: &'a RoleSessionName,
    tags: &'a SessionTags,
) -> AwsAssertion<'a> {
    AwsAssertion {
        issuer: ISSUER,
        acs_url: ACS,
        partition: Partition::Aws,
        name_id: "alice",
        roles,
        session_name: session,
        source_identity: None,
        session_duration: None,
        tags,
        issued_at: Utc::now(),
        validity_secs: 300,
        skew_secs: 180,
    }
}

fn role_pairs(n: usize) -> Vec<RolePair> {
    (0..n)
        .map(|i| {
            let account = format!("{:012}", 123456789012u64 + i as u64);
            RolePair::new(
                RoleArn::parse(&format!("arn:aws:iam::{account}:role/team/Role{i}")).expect("role"),
                SamlProviderArn::parse(&format!("arn:aws:iam::{account}:saml-provider/fedbroker"))
                    .expect("provider"),
            )
            .expect("pair")
        })
        .collect()
}

#[test]
fn every_response_shape_verifies_with_xmlsec1_and_pysaml2_and_tampering_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pkey, cert) = generate("fedbroker test").expect("key");
    let cert_pem = String::from_utf8(cert.to_pem().expect("pem")).expect("utf8");
    let signer = XmlSigner::new("test".into(), pkey, &cert.to_der().expect("der"));
    let metadata = dir.path().join("idp-metadata.xml");
    std::fs::write(
        &metadata,
        idp_metadata(
            ISSUER,
            "https://broker.example.com/saml/sso",
            &[signer.cert_b64().to_string()],
        )
        .expect("metadata"),
    )
    .expect("write metadata");

    let session = RoleSessionName::parse("alice@example.com").expect("name");
    let source = SourceIdentity::parse("alice").expect("source");
    let tagged = SessionTags::parse(
        vec![
            ("Email".into(), "alice@example.com".into()),
            ("Team".into(), "platform infra".into()),
        ],
        vec!["Team".into()],
    )
    .expect("tags");
    let untagged = SessionTags::default();
    let shapes = [
        Shape {
            name: "assertion signed, one role",
            roles: 1,
            tags: false,
            sign_response: false,
        },
        Shape {
            name: "assertion and response signed, one role",
            roles: 1,
            tags: false,
            sign_response: true,
        },
        Shape {
            name: "several roles",
            roles: 3,
            tags: false,
            sign_response: true,
        },
        Shape {
            name: "with tags",
            roles: 1,
            tags: true,
            sign_response: true,
        },
        Shape {
            name: "several roles with tags, assertion only",
            roles: 4,
            tags: true,
            sign_response: false,
        },
    ];
    for shape in shapes {
        let roles = role_pairs(shape.roles);
        let a = AwsAssertion {
            issuer: ISSUER,
            acs_url: ACS,
            partition: Partition::Aws,
            name_id: "alice",
            roles: &roles,
            session_name: &session,
            source_identity: Some(&source),
            session_duration: Some(SessionDuration::parse(28800).expect("duration")),
            tags: if shape.tags { &tagged } else { &untagged },
            issued_at: Utc::now(),
            validity_secs: 300,
            skew_secs: 180,
        };
        let signed = sign_aws_response(&a, &signer, shape.sign_response).expect("signs");
        assert!(
            xmlsec_verifies(dir.path(), &signed.xml, &cert_pem, &signed.assertion_id),
            "{}: assertion signature",
            shape.name
        );
        // xmlsec1 verifies the first Signature under the node, so the Response's own signature
        // is checked only where there is one (it sits before Status, the Assertion's after it).
        let response_signed = signed
            .xml
            .split("<samlp:Status>")
            .next()
            .is_some_and(|head| head.contains("<ds:Signature"));
        assert_eq!(
            response_signed, shape.sign_response,
            "{}: response signature present",
            shape.name
        );
        if shape.sign_response {
            assert!(
                xmlsec_verifies(dir.path(), &signed.xml, &cert_pem, &signed.response_id),
                "{}: response signature",
                shape.name
            );
        }
        let (ok, out) = pysaml2_accepts(&signed.base64, ACS, &metadata, shape.sign_response);
        assert!(ok, "{}: pysaml2 rejected: {out}", shape.name);
        let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("summary json");
        assert_eq!(summary["destination"], ACS);
        assert_eq!(summary["recipient"], ACS);
        assert_eq!(summary["issuer"], ISSUER);
        let role_values = &summary["attributes"]["https://aws.amazon.com/SAML/Attributes/Role"];
        assert_eq!(
            role_values.as_array().map(Vec::len),
            Some(shape.roles),
            "{}: {summary}",
            shape.name
        );
        assert_eq!(
            summary["attributes"]["https://aws.amazon.com/SAML/Attributes/RoleSessionName"][0],
            "alice@example.com"
        );
        if shape.tags {
            assert_eq!(
                summary["attributes"]["https://aws.amazon.com/SAML/Attributes/PrincipalTag:Team"]
                    [0],
                "platform infra"
            );
        }

        // Tampering with any attribute after signing: both verifiers reject.
        for (from, to) in [
            (
                "arn:aws:iam::123456789012:role/team/Role0",
                "arn:aws:iam::999999999999:role/team/Role0",
            ),
            (">alice@example.com<", ">mallory@example.com<"),
            (">28800<", ">43200<"),
        ] {
            assert!(signed.xml.contains(from), "{}: {from} present", shape.name);
            let tampered = signed.xml.replacen(from, to, 1);
            assert!(
                !xmlsec_verifies(dir.path(), &tampered, &cert_pem, &signed.assertion_id),
                "{}: xmlsec1 accepted tampered {from}",
                shape.name
            );
            let b64 = base64::engine::general_purpose::STANDARD.encode(&tampered);
            let (ok, out) = pysaml2_accepts(&b64, ACS, &metadata, shape.sign_response);
            assert!(
                !ok,
                "{}: pysaml2 accepted tampered {from}: {out}",
                shape.name
            );
            assert!(
                out.contains("SignatureError: Failed to verify signature"),
                "{}: refused for its signature: {out}",
                shape.name
            );
        }
    }
}

#[test]
fn a_response_for_another_acs_or_signed_by_an_unknown_key_is_rejected_by_pysaml2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pkey, cert) = generate("fedbroker test").expect("key");
    let signer = XmlSigner::new("a".into(), pkey, &cert.to_der().expect("der"));
    let (other_key, other_cert) = generate("someone else").expect("key");
    let stranger = XmlSigner::new("b".into(), other_key, &other_cert.to_der().expect("der"));
    let metadata = dir.path().join("md.xml");
    std::fs::write(
        &metadata,
        idp_metadata(ISSUER, "https://x/sso", &[signer.cert_b64().to_string()]).expect("md"),
    )
    .expect("write");
    let roles = role_pairs(1);
    let session = RoleSessionName::parse("alice").expect("name");
    let tags = SessionTags::default();
    let a = plain_assertion(&roles, &session, &tags);
    let good = sign_aws_response(&a, &signer, true).expect("signs");
    let (ok, out) = pysaml2_accepts(
        &good.base64,
        "https://us-west-2.signin.aws.amazon.com/saml",
        &metadata,
        false,
    );
    assert!(!ok, "accepted at the wrong ACS: {out}");
    assert!(
        out.contains(
            "Destination https://us-east-2.signin.aws.amazon.com/saml is not this endpoint"
        ),
        "{out}"
    );
    let forged = sign_aws_response(&a, &stranger, true).expect("signs");
    let (ok, out) = pysaml2_accepts(&forged.base64, ACS, &metadata, false);
    assert!(
        !ok,
        "accepted a signature from a key not in metadata: {out}"
    );
    assert!(out.contains("SignatureError"), "{out}");
    let expired = AwsAssertion {
        issued_at: Utc::now() - chrono::Duration::seconds(900),
        ..a.clone()
    };
    let old = sign_aws_response(&expired, &signer, true).expect("signs");
    let (ok, out) = pysaml2_accepts(&old.base64, ACS, &metadata, false);
    assert!(!ok, "accepted an expired assertion: {out}");
    assert!(out.contains("ResponseLifetimeExceed"), "{out}");
    let (ok, out) = pysaml2_accepts(&good.base64, ACS, &metadata, true);
    assert!(ok, "{out}");
}

/// The message of a refusal (or `Ok` when the value was wrongly accepted).
fn refusal<T, E: ToString>(r: Result<T, E>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| e.to_string())
}

/// The first message of a refusal that lists every violation.
fn first_refusal<T, E: ToString>(r: Result<T, Vec<E>>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| e[0].to_string())
}

#[test]
fn preflight_refuses_what_aws_would_reject_with_a_precise_message() {
    use fedbroker::domain::aws::sanitize_session_text;
    // Each rule of the reference, one violating value, and the words its message must contain.
    let cases: Vec<(&str, Result<(), String>, &str)> = vec![
        (
            "role ARN syntax",
            refusal(RoleArn::parse("arn:aws:iam::123:role/X")),
            "12-digit",
        ),
        (
            "role ARN kind",
            refusal(RoleArn::parse("arn:aws:iam::123456789012:user/X")),
            "not an IAM role ARN",
        ),
        (
            "partition",
            refusal(RoleArn::parse("arn:aws-mars:iam::123456789012:role/X")),
            "partition",
        ),
        (
            "provider ARN",
            refusal(SamlProviderArn::parse(
                "arn:aws:iam::123456789012:saml-provider/",
            )),
            "saml-provider",
        ),
        (
            "session name too short",
            refusal(RoleSessionName::parse("a")),
            "2 to 64",
        ),
        (
            "session name too long",
            refusal(RoleSessionName::parse(&"a".repeat(65))),
            "2 to 64",
        ),
        (
            "session name charset",
            refusal(RoleSessionName::parse("alice smith")),
            "characters AWS rejects",
        ),
        (
            "source identity prefix",
            refusal(SourceIdentity::parse("aws:alice")),
            "aws:",
        ),
        (
            "duration low",
            refusal(SessionDuration::parse(899)),
            "900 to 43200",
        ),
        (
            "duration high",
            refusal(SessionDuration::parse(43201)),
            "900 to 43200",
        ),
        (
            "tag count",
            first_refusal(SessionTags::parse(
                (0..51).map(|i| (format!("k{i}"), "v".into())).collect(),
                vec![],
            )),
            "50 session tags",
        ),
        (
            "tag key length",
            first_refusal(SessionTags::parse(
                vec![("k".repeat(129), "v".into())],
                vec![],
            )),
            "tag key",
        ),
        (
            "tag key prefix",
            first_refusal(SessionTags::parse(
                vec![("aws:x".into(), "v".into())],
                vec![],
            )),
            "reserved prefix",
        ),
        (
            "tag value length",
            first_refusal(SessionTags::parse(
                vec![("k".into(), "v".repeat(257))],
                vec![],
            )),
            "tag value",
        ),
        (
            "tag value charset",
            first_refusal(SessionTags::parse(vec![("k".into(), "a<b".into())], vec![])),
            "tag value",
        ),
        (
            "transitive key unknown",
            first_refusal(SessionTags::parse(
                vec![("k".into(), "v".into())],
                vec!["other".into()],
            )),
            "not sent",
        ),
    ];
    for (rule, result, expected) in cases {
        let msg = result.expect_err(rule);
        assert!(msg.contains(expected), "{rule}: {msg}");
    }
    // Cross-value rules and size, at signing time: nothing is signed.
    let (pkey, cert) = generate("t").expect("key");
    let signer = XmlSigner::new("t".into(), pkey, &cert.to_der().expect("der"));
    let session = RoleSessionName::parse(&sanitize_session_text("Jörg Müller")).expect("sanitised");
    let tags = SessionTags::default();
    let base = AwsAssertion {
        issuer: ISSUER,
        acs_url: ACS,
        partition: Partition::Aws,
        name_id: "joerg",
        roles: &[],
        session_name: &session,
        source_identity: None,
        session_duration: None,
        tags: &tags,
        issued_at: Utc::now(),
        validity_secs: 300,
        skew_secs: 180,
    };
    let expect_preflight =
        |a: &AwsAssertion<'_>, words: &str| match sign_aws_response(a, &signer, true) {
            Err(ResponseError::Preflight(errors)) => {
                let msg = errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                assert!(msg.contains(words), "{msg}");
            }
            other => panic!("expected a pre-flight refusal mentioning {words:?}, got {other:?}"),
        };
    expect_preflight(&base, "without a Role");
    let gov = vec![RolePair::new(
        RoleArn::parse("arn:aws-us-gov:iam::123456789012:role/X").expect("role"),
        SamlProviderArn::parse("arn:aws-us-gov:iam::123456789012:saml-provider/p")
            .expect("provider"),
    )
    .expect("pair")];
    expect_preflight(
        &AwsAssertion {
            roles: &gov,
            ..base.clone()
        },
        "partition aws-us-gov",
    );
    let many = role_pairs(700);
    expect_preflight(
        &AwsAssertion {
            roles: &many,
            ..base.clone()
        },
        "100000 characters",
    );
    let mismatched = RolePair::new(
        RoleArn::parse("arn:aws:iam::123456789012:role/X").expect("role"),
        SamlProviderArn::parse("arn:aws:iam::210987654321:saml-provider/p").expect("provider"),
    );
    assert!(mismatched
        .expect_err("refused")
        .to_string()
        .contains("another account"));
}

/// The 100,000-character limit is checked on what is sent: a multi-role Response that fits in
/// clear but not once encrypted (base64 of a ciphertext inside base64) is refused when it is to
/// be encrypted, naming the size.
#[test]
fn the_size_limit_applies_to_the_encrypted_response() {
    let (pkey, cert) = generate("fedbroker test").expect("key");
    let signer = XmlSigner::new("test".into(), pkey, &cert.to_der().expect("der"));
    let (_, aws_cert) = generate("urn:amazon:webservices").expect("provider key");
    let key = fedbroker::saml::encrypt::EncryptionKey::from_certificate(
        &String::from_utf8(aws_cert.to_pem().expect("pem")).expect("utf-8"),
    )
    .expect("certificate");
    let session = RoleSessionName::parse("alice").expect("name");
    let tags = SessionTags::default();
    // Find a role count whose clear Response fits and whose encrypted one does not.
    let fits = |n: usize, encrypt: bool| {
        let roles = role_pairs(n);
        let a = plain_assertion(&roles, &session, &tags);
        fedbroker::saml::response::sign_aws_response_for(&a, &signer, true, encrypt.then_some(&key))
    };
    let n = (300..900)
        .step_by(20)
        .find(|&n| fits(n, false).is_ok() && fits(n, true).is_err())
        .expect("a size that fits only in clear");
    let signed = fits(n, false).expect("fits in clear");
    assert!(signed.base64.len() <= 100_000);
    let Err(ResponseError::Preflight(errors)) = fits(n, true) else {
        panic!("refused once encrypted");
    };
    assert_eq!(errors[0].attribute, "SAMLResponse");
    assert!(
        errors[0].value.contains(&format!("with {n} roles")),
        "{errors:?}"
    );
}
