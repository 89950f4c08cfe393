//! Building + signing one AWS SAML Response, against the raw RSA-2048 signature rate of the same
//! key (the physical limit). Run: `cargo bench --bench sign_response`.
//!
//! The Response is emitted directly in canonical form and signed with a key parsed once, so the
//! XML work should cost little next to the two RSA signatures (Assertion and Response).

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use fedbroker::domain::aws::{
    Partition, RoleArn, RolePair, RoleSessionName, SamlProviderArn, SessionDuration, SessionTags,
    SourceIdentity,
};
use fedbroker::saml::keys::generate;
use fedbroker::saml::response::{sign_aws_response, AwsAssertion};
use fedbroker::saml::sign::XmlSigner;

fn bench(c: &mut Criterion) {
    let (pkey, cert) = generate("bench").expect("key");
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
    // SignedInfo is what RSA signs in the real path; sign a block of the same size.
    let signed_info = vec![b'x'; 900];

    let mut group = c.benchmark_group("saml");
    group.bench_function("raw_rsa2048_sign", |b| {
        b.iter(|| {
            signer
                .sign(std::hint::black_box(&signed_info))
                .expect("signs")
        })
    });
    for (name, sign_response) in [
        ("aws_response_assertion_signed", false),
        ("aws_response_both_signed", true),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let a = AwsAssertion {
                    issuer: "https://broker.example.com/saml/metadata",
                    acs_url: "https://us-east-2.signin.aws.amazon.com/saml",
                    partition: Partition::Aws,
                    name_id: "alice",
                    roles: &roles,
                    session_name: &session,
                    source_identity: Some(&source),
                    session_duration: Some(SessionDuration::parse(3600).expect("duration")),
                    tags: &tags,
                    issued_at: Utc::now(),
                    validity_secs: 300,
                    skew_secs: 180,
                };
                sign_aws_response(std::hint::black_box(&a), &signer, sign_response).expect("signs")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
