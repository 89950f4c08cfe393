//! Encrypted assertions toward AWS: the roles of an IAM SAML provider that takes them get their
//! Assertions encrypted for the provider's certificate (fetched from where AWS publishes it, or
//! pasted) and posted to the provider's ACS URL at every regional endpoint, through failover.
//! The endpoints are pysaml2 service providers holding the provider's private key (as AWS
//! does): they decrypt, verify the signature inside and accept; a tampered ciphertext is
//! refused. CLI credentials send the encrypted form to STS too.

use base64::Engine;
use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, spawn_client_for, Backend, TestApp};
use crate::on_both_backends;
use crate::peers::aws::Peer;
use crate::saml_flow::{autopost_form, post_like_a_browser, SignInEndpoint};
use crate::sts::{cli_credentials, ADMIN_ROLE};

const IDP_ID: &str = "SAMLSP4SQN3EXAMPLE";

/// The provider's key pair, as AWS holds it: (private key file, certificate file, PEM).
fn provider_key_pair(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let rsa = Rsa::generate(2048).expect("key");
    let pkey = PKey::from_rsa(rsa).expect("pkey");
    let mut name = x509::X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "urn:amazon:webservices")
        .expect("cn");
    let name = name.build();
    let mut b = x509::X509::builder().expect("builder");
    b.set_version(2).expect("v3");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&pkey).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(30).expect("t"))
        .expect("na");
    b.sign(&pkey, MessageDigest::sha256()).expect("sign");
    let cert = String::from_utf8(b.build().to_pem().expect("pem")).expect("utf-8");
    let key_file = dir.join("provider-key.pem");
    let cert_file = dir.join("provider-cert.pem");
    std::fs::write(&key_file, pkey.private_key_to_pem_pkcs8().expect("pem")).expect("write");
    std::fs::write(&cert_file, &cert).expect("write");
    (key_file, cert_file, cert)
}

async fn console(app: &TestApp, role: &str) -> crate::helpers::Page {
    let token = app.get("/").await.csrf_token();
    app.post_form(
        "/saml/aws/sso",
        &[("csrf_token", &token), ("role", role), ("region", "")],
    )
    .await
}

async fn post(action: &str, saml: &str, relay: &str) -> StatusCode {
    post_like_a_browser(action, saml, relay)
        .await
        .expect("post")
        .status()
}

fn decoded(b64: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64"),
    )
    .expect("utf-8")
}

async fn an_encrypting_provider_gets_encrypted_assertions_through_failover(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("idp-metadata.xml");
    let (key, cert, _) = provider_key_pair(dir.path());
    let mut east =
        SignInEndpoint::start_encrypting(dir.path(), "us-east-2", &metadata, IDP_ID, (&key, &cert));
    let west =
        SignInEndpoint::start_encrypting(dir.path(), "us-west-2", &metadata, IDP_ID, (&key, &cert));
    let standin = Peer::standin(dir.path(), 43200).await;
    let (east_url, west_url, sts) = (east.url.clone(), west.url.clone(), standin.url());
    let app = spawn_app_with(backend, |s| {
        s.regions.acs = crate::helpers::entries([
            format!("us-east-2={east_url}"),
            format!("us-west-2={west_url}"),
        ]);
        s.sts.endpoints = crate::helpers::entries([format!("us-east-2={sts}")]);
    })
    .await;
    std::fs::write(&metadata, app.get("/saml/metadata").await.body).expect("metadata");
    app.regions.probe_all(fedbroker::clock::now()).await;
    app.create_user(
        "alice",
        "alice-password-1",
        &["AWS-123456789012-Admin", "AWS-210987654321-Dev"],
    )
    .await;

    // An admin sets the account up; the certificate is fetched from where AWS publishes it.
    let admin = spawn_client_for(&app);
    admin.login_as_admin().await;
    let token = admin.get("/admin/encryption").await.csrf_token();
    let save = |idp_id: &'static str| {
        let token = token.clone();
        let admin = &admin;
        async move {
            admin
                .post_form(
                    "/admin/encryption",
                    &[
                        ("csrf_token", token.as_str()),
                        ("action", "save"),
                        ("provider", "123456789012"),
                        ("idp_id", idp_id),
                        ("certificate", ""),
                    ],
                )
                .await
        }
    };
    let unknown = save("NOSUCHPROVIDER").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert!(
        unknown.body.contains("answered HTTP 404"),
        "{}",
        unknown.body
    );
    let saved = save(IDP_ID).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let listed = admin.get("/admin/encryption").await;
    let encrypted_acs = format!("{east_url}/acs/{IDP_ID}");
    assert!(listed.body.contains(&encrypted_acs), "{}", listed.body);
    let trust = admin.get("/admin/trust-policy").await;
    assert!(
        trust.body.contains(&encrypted_acs),
        "SAML:aud lists it: {}",
        trust.body
    );

    let dry = admin.get("/admin/test?username=alice").await;
    assert!(
        dry.body.contains(
            "is encrypted for provider arn:aws:iam::123456789012:saml-provider/fedbroker"
        ),
        "{}",
        dry.body
    );
    assert!(dry.body.contains("id=\"preflight-ok\""), "{}", dry.body);

    app.login("alice", "alice-password-1").await;
    let page = console(&app, ADMIN_ROLE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (action, saml, relay) = autopost_form(&page.body);
    assert_eq!(action, encrypted_acs);
    let xml = decoded(&saml);
    assert!(xml.contains("<saml:EncryptedAssertion"), "{xml}");
    assert!(
        !xml.contains(ADMIN_ROLE),
        "nothing of the assertion in clear"
    );
    assert_eq!(post(&action, &saml, &relay).await, StatusCode::OK);
    let got = east.received();
    assert_eq!(got[0]["ok"], true, "{}", got[0]);
    assert_eq!(
        got[0]["attributes"]["https://aws.amazon.com/SAML/Attributes/Role"][0],
        format!("{ADMIN_ROLE},arn:aws:iam::123456789012:saml-provider/fedbroker")
    );

    // One changed byte of ciphertext: refused.
    let value_at = xml.rfind("<xenc:CipherValue>").expect("content") + "<xenc:CipherValue>".len();
    let mut tampered = xml.clone().into_bytes();
    tampered[value_at + 8] = if tampered[value_at + 8] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = base64::engine::general_purpose::STANDARD.encode(tampered);
    assert_eq!(
        post(&action, &tampered, &relay).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(east.received()[1]["ok"], false, "{}", east.received()[1]);

    // Another account's role is not encrypted, and goes to the plain endpoint.
    let plain = console(&app, "arn:aws:iam::210987654321:role/Dev").await;
    let (plain_action, plain_saml, _) = autopost_form(&plain.body);
    assert_eq!(plain_action, east_url);
    assert!(!decoded(&plain_saml).contains("EncryptedAssertion"));

    // East goes down: the next Region's endpoint gets it, encrypted at its own ACS URL.
    east.stop();
    app.regions.probe_all(fedbroker::clock::now()).await;
    let page = console(&app, ADMIN_ROLE).await;
    let (action, saml, relay) = autopost_form(&page.body);
    assert_eq!(action, format!("{west_url}/acs/{IDP_ID}"));
    assert_eq!(post(&action, &saml, &relay).await, StatusCode::OK);
    assert_eq!(west.received()[0]["ok"], true, "{}", west.received()[0]);

    // CLI credentials: STS gets the encrypted form, addressed to the first endpoint's ACS URL.
    let creds = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(creds.status, StatusCode::OK, "{}", creds.body);
    let sent = standin
        .received()
        .into_iter()
        .find(|r| r["kind"] == "sts")
        .expect("an STS call");
    let sts_xml = decoded(sent["assertion"].as_str().unwrap_or_default());
    assert!(sts_xml.contains("<saml:EncryptedAssertion"), "{sts_xml}");
    assert!(
        sts_xml.contains(&format!("Destination=\"{encrypted_acs}\"")),
        "{sts_xml}"
    );

    // Stopping encryption is audited and takes effect at once.
    let token = admin.get("/admin/encryption").await.csrf_token();
    let removed = admin
        .post_form(
            "/admin/encryption",
            &[
                ("csrf_token", token.as_str()),
                ("action", "remove"),
                (
                    "provider",
                    "arn:aws:iam::123456789012:saml-provider/fedbroker",
                ),
            ],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let page = console(&app, ADMIN_ROLE).await;
    let (action, _, _) = autopost_form(&page.body);
    assert_eq!(action, west_url);
    let changes = crate::sts::audit_of(&app, "admin.change").await;
    assert!(changes
        .iter()
        .any(|e| e.details.contains("assertion_encryption")
            && e.details.contains("certificate_sha256")));
}

/// A pasted certificate that is not one, or an IdP ID that could reshape a URL, is refused
/// with the reason and nothing is saved.
async fn bad_encryption_settings_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.login_as_admin().await;
    let token = app.get("/admin/encryption").await.csrf_token();
    for (provider, idp_id, certificate, why) in [
        ("123456789012", "../x", "", "not a SAML provider IdP ID"),
        (
            "123456789012",
            IDP_ID,
            "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----",
            "not a readable X.509",
        ),
        ("1234", IDP_ID, "", "not a 12-digit AWS account id"),
        (
            "arn:aws-cn:iam::123456789012:saml-provider/fedbroker",
            IDP_ID,
            "",
            "not in the aws partition",
        ),
    ] {
        let res = app
            .post_form(
                "/admin/encryption",
                &[
                    ("csrf_token", token.as_str()),
                    ("action", "save"),
                    ("provider", provider),
                    ("idp_id", idp_id),
                    ("certificate", certificate),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
        assert!(res.body.contains(why), "{why}: {}", res.body);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM assertion_encryption").await,
        0
    );
}

on_both_backends!(
    an_encrypting_provider_gets_encrypted_assertions_through_failover,
    bad_encryption_settings_are_refused,
);
