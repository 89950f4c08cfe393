//! Verifying one upstream SAML Response (parse, structure checks, exclusive c14n, digests and
//! RSA-2048 signature checks of the Response and its Assertion, reading the assertion),
//! against one raw RSA-2048 signature check. Run: `cargo bench --bench verify_upstream`.
//!
//! The Response is one of the broker's own AWS Responses (both signed), read as an upstream
//! identity provider's would be: the verifier does not care who produced it.

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use fedbroker::domain::aws::{
    Partition, RoleArn, RolePair, RoleSessionName, SamlProviderArn, SessionDuration, SessionTags,
    SourceIdentity,
};
use fedbroker::saml::keys::generate;
use fedbroker::saml::response::{sign_aws_response, AwsAssertion};
use fedbroker::saml::sign::XmlSigner;
use fedbroker::saml::sp::verify::{verify_response, Expected, IdpTrust};

const ISSUER: &str = "https://idp.example.com/saml/metadata";
const ACS: &str = "https://us-east-2.signin.aws.amazon.com/saml";

fn bench(c: &mut Criterion) {
    let (pkey, cert) = generate("bench").expect("key");
    let public = cert.public_key().expect("public key");
    let signer = XmlSigner::new("bench".into(), pkey, &cert.to_der().expect("der"));
    let roles = vec![RolePair::new(
        RoleArn::parse("arn:aws:iam::123456789012:role/Admin").expect("role"),
        SamlProviderArn::parse("arn:aws:iam::123456789012:saml-provider/fedbroker")
            .expect("provider"),
    )
    .expect("pair")];
    let session = RoleSessionName::parse("alice@example.com").expect("name");
    let source = SourceIdentity::parse("alice").expect("source");
    let tags = SessionTags::parse(vec![("Team".into(), "platform".into())], vec![]).expect("tags");
    let a = AwsAssertion {
        issuer: ISSUER,
        acs_url: ACS,
        partition: Partition::Aws,
        name_id: "alice",
        roles: &roles,
        session_name: &session,
        source_identity: Some(&source),
        session_duration: Some(SessionDuration::parse(3600).expect("duration")),
        tags: &tags,
        issued_at: Utc::now(),
        validity_secs: 3600,
        skew_secs: 180,
    };
    let response = sign_aws_response(&a, &signer, true).expect("signs");
    let posted = response.base64;
    let trust = IdpTrust {
        entity_id: ISSUER.into(),
        keys: vec![public.clone()],
        allow_sha1: false,
    };
    let expected = Expected {
        audience: "urn:amazon:webservices",
        acs_url: ACS,
        request_id: None,
        allow_unsolicited: true,
        now: Utc::now().timestamp(),
        skew_secs: 60,
    };
    verify_response(&posted, &trust, &expected, &[]).expect("the bench input verifies");

    let signed_info = vec![b'x'; 900];
    let signature = signer.sign(&signed_info).expect("signs");
    let mut group = c.benchmark_group("saml_sp");
    group.bench_function("raw_rsa2048_verify", |b| {
        b.iter(|| {
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public)
                .and_then(|mut v| v.verify_oneshot(&signature, std::hint::black_box(&signed_info)))
                .expect("verifies")
        })
    });
    group.bench_function("verify_upstream_response_both_signed", |b| {
        b.iter(|| {
            verify_response(std::hint::black_box(&posted), &trust, &expected, &[])
                .expect("verifies")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
