//! Sign-in through an upstream SAML identity provider: pysaml2 (signing and encrypting with
//! xmlsec1) produces genuine Responses, and a hostile corpus is built from them: signature
//! wrapping in its classic forms, comment injection, foreign keys, SHA-1, wrong audience and
//! destination, stale and future assertions, replays (also across two instances on one
//! database), unsolicited and mismatched answers, DTD attacks and oversized posts. Each must be
//! refused with its reason on the login page and in the audit log, and open no session.

use std::io::Read;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use fedbroker::config::SamlSource;
use fedbroker::startup::{Application, BuildOptions};
use reqwest::StatusCode;

use crate::browser;
use crate::helpers::{login_error, spawn_app_with, Backend, TestApp, ADMIN_PASSWORD};
use crate::on_both_backends;
use crate::peers::saml_idp::{Answer, SamlIdp, IDP_ENTITY};
use crate::peers::simplesamlphp::{SimpleSamlPhp, SpEntry};

const PUBLIC: &str = "https://broker.example.test";
const SP: &str = "https://broker.example.test/saml/sp/up";

pub struct Setup {
    pub app: TestApp,
    pub idp: SamlIdp,
    _dir: tempfile::TempDir,
}

/// A broker with the pysaml2 provider as source `up`, after letting the test adjust it.
pub async fn setup(backend: Backend, adjust: impl FnOnce(&mut SamlSource)) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let idp = SamlIdp::new(dir.path(), SP);
    let mut source: SamlSource = toml::from_str(&format!(
        "id = \"up\"\nname = \"Example IdP\"\nmetadata_file = \"{}\"\n",
        idp.metadata.display()
    ))
    .expect("source");
    adjust(&mut source);
    let app = spawn_app_with(backend, move |s| {
        s.server.public_url = PUBLIC.into();
        s.sources.saml = vec![source];
    })
    .await;
    let metadata = app.get("/saml/sp/up/metadata").await;
    assert_eq!(metadata.status, StatusCode::OK);
    std::fs::write(&idp.sp_metadata, &metadata.body).expect("SP metadata written");
    Setup {
        app,
        idp,
        _dir: dir,
    }
}

/// Presses "Sign in with Example IdP": returns the AuthnRequest the broker sent.
pub async fn start(app: &TestApp) -> String {
    let res = app.get("/login/saml/up?next=/").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let url = url::Url::parse(res.location()).expect("absolute URL");
    assert_eq!(
        format!("{}{}", url.origin().ascii_serialization(), url.path()),
        format!("{IDP_ENTITY}/sso")
    );
    let encoded = url
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.to_string())
        .expect("SAMLRequest");
    let deflated = STANDARD.decode(encoded).expect("base64");
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .expect("inflates");
    xml
}

/// The `ID` of an AuthnRequest.
pub fn request_id(xml: &str) -> String {
    xml.split(" ID=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("ID")
        .to_string()
}

/// Posts a Response to the ACS as the browser would.
pub async fn post(app: &TestApp, saml_response: &str) -> crate::helpers::Page {
    app.post_form("/saml/sp/up/acs", &[("SAMLResponse", saml_response)])
        .await
}

fn alice(in_response_to: Option<String>) -> Answer {
    Answer {
        name_id: "alice".into(),
        attributes: vec![
            ("email".into(), "alice@example.com".into()),
            ("displayName".into(), "Alice Example".into()),
            ("groups".into(), "pay-ops".into()),
            ("groups".into(), "staff".into()),
        ],
        in_response_to,
        ..Answer::default()
    }
}

async fn groups_of(app: &TestApp, username: &str) -> Vec<String> {
    let user = app
        .store
        .user_by_username(username)
        .await
        .expect("store")
        .unwrap_or_else(|| panic!("{username} was provisioned"));
    let mut groups = app.store.groups_of_user(user.id).await.expect("store");
    groups.sort();
    groups
}

async fn sp_initiated_sign_in_with_a_signed_assertion(backend: Backend) {
    let s = setup(backend, |_| {}).await;
    let request = start(&s.app).await;
    assert!(
        request.contains(&format!("AssertionConsumerServiceURL=\"{SP}/acs\"")),
        "{request}"
    );
    assert!(request.contains(&format!("<saml:Issuer>{SP}</saml:Issuer>")));
    let answer = s.idp.respond(&alice(Some(request_id(&request))));
    let res = post(&s.app, &answer).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/");
    let portal = s.app.get("/").await;
    assert_eq!(portal.status, StatusCode::OK);
    assert!(portal.body.contains("alice"), "{}", portal.body);
    assert_eq!(groups_of(&s.app, "alice").await, ["pay-ops", "staff"]);
    let user = s
        .app
        .store
        .user_by_username("alice")
        .await
        .expect("store")
        .expect("alice");
    assert_eq!(user.source, "up");
    assert_eq!(user.email, "alice@example.com");
}

async fn encrypted_assertions_are_decrypted_and_can_be_required(backend: Backend) {
    let s = setup(backend, |src| src.want_assertions_encrypted = true).await;
    let request = start(&s.app).await;
    let plain = s.idp.respond(&alice(Some(request_id(&request))));
    let res = post(&s.app, &plain).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert!(
        login_error(&res).contains("want_assertions_encrypted"),
        "{}",
        res.body
    );

    let request = start(&s.app).await;
    let mut answer = alice(Some(request_id(&request)));
    answer.encrypt = true;
    let encrypted = s.idp.respond(&answer);
    let xml = String::from_utf8(STANDARD.decode(&encrypted).expect("b64")).expect("utf8");
    assert!(
        xml.contains("EncryptedAssertion") && xml.contains("aes256-gcm"),
        "{xml}"
    );
    let res = post(&s.app, &encrypted).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(groups_of(&s.app, "alice").await, ["pay-ops", "staff"]);
}

async fn idp_initiated_sign_in_only_when_allowed(backend: Backend) {
    let s = setup(backend, |_| {}).await;
    let res = post(&s.app, &s.idp.respond(&alice(None))).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        login_error(&res).contains("allow_idp_initiated"),
        "{}",
        res.body
    );

    let s = setup(backend, |src| src.allow_idp_initiated = true).await;
    let res = s
        .app
        .post_form(
            "/saml/sp/up/acs",
            &[
                ("SAMLResponse", &s.idp.respond(&alice(None))),
                ("RelayState", "https://evil.example.com/"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    // A RelayState naming another site is not followed.
    assert_eq!(res.location(), "/");
    assert_eq!(s.app.get("/").await.status, StatusCode::OK);
}

on_both_backends!(
    sp_initiated_sign_in_with_a_signed_assertion,
    encrypted_assertions_are_decrypted_and_can_be_required,
    idp_initiated_sign_in_only_when_allowed,
);

/// The assertion element of a Response, with its start and end offsets.
fn assertion_span(xml: &str) -> (usize, usize) {
    let start = xml.find("<ns1:Assertion ").expect("an assertion");
    let end = xml.find("</ns1:Assertion>").expect("its end") + "</ns1:Assertion>".len();
    (start, end)
}

/// An unsigned copy of the signed assertion naming `who` instead, under another ID.
fn evil_twin(xml: &str, who: &str) -> String {
    let (s, e) = assertion_span(xml);
    let mut twin = xml[s..e].to_string();
    if let (Some(a), Some(b)) = (twin.find("<ns2:Signature"), twin.find("</ns2:Signature>")) {
        twin.replace_range(a..b + "</ns2:Signature>".len(), "");
    }
    let name_start = twin.find("<ns1:NameID").expect("NameID");
    let value_start = twin[name_start..].find('>').expect(">") + name_start + 1;
    let value_end = twin[value_start..].find('<').expect("<") + value_start;
    twin.replace_range(value_start..value_end, who);
    twin.replacen(" ID=\"", " ID=\"evil", 1)
}

fn b64(xml: &str) -> String {
    STANDARD.encode(xml)
}

fn decode(b: &str) -> String {
    String::from_utf8(STANDARD.decode(b).expect("b64")).expect("utf8")
}

/// Posts `response` in a fresh sign-in and checks it is refused for `code`, shown and audited.
async fn refused(app: &TestApp, response: &str, code: &str, shown: &str) {
    let before = app
        .count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE outcome = 'failure' AND details LIKE '%\"{code}: %'"
        ))
        .await;
    let res = post(app, response).await;
    assert!(
        res.status.is_client_error(),
        "{code}: {} {}",
        res.status,
        res.body
    );
    let error = login_error(&res);
    assert!(error.contains(shown), "{code}: `{error}` lacks `{shown}`");
    let after = app
        .count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE outcome = 'failure' AND details LIKE '%\"{code}: %'"
        ))
        .await;
    assert_eq!(after, before + 1, "{code}: audited once");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions").await,
        0,
        "{code}: no session"
    );
}

async fn every_attack_in_the_corpus_is_refused(backend: Backend) {
    let s = setup(backend, |_| {}).await;
    let app = &s.app;
    let fresh = |answer: &Answer| s.idp.respond(answer);
    let solicited = |id: String| alice(Some(id));

    // Signature wrapping: a second, unsigned assertion before, after or inside the signed one.
    let id = request_id(&start(app).await);
    let genuine = decode(&fresh(&solicited(id)));
    let (a, e) = assertion_span(&genuine);
    let twin = evil_twin(&genuine, "admin");
    let before = format!("{}{twin}{}", &genuine[..a], &genuine[a..]);
    refused(app, &b64(&before), "assertion_count", "2 assertions").await;
    let after = format!("{}{twin}{}", &genuine[..e], &genuine[e..]);
    let _ = start(app).await;
    refused(app, &b64(&after), "assertion_count", "2 assertions").await;
    let inner_at = genuine[a..].find("<ns1:Subject").expect("Subject") + a;
    let inside = format!("{}{twin}{}", &genuine[..inner_at], &genuine[inner_at..]);
    let _ = start(app).await;
    refused(app, &b64(&inside), "assertion_count", "2 assertions").await;
    // The signed assertion moved into Extensions, the twin in its place.
    let moved = format!(
        "{}<ns0:Extensions>{}</ns0:Extensions>{twin}{}",
        &genuine[..a],
        &genuine[a..e],
        &genuine[e..]
    );
    let _ = start(app).await;
    refused(app, &b64(&moved), "assertion_count", "2 assertions").await;
    // The signed assertion inside the twin's Signature Object (XSW with a copied signature).
    let (sa, se) = (
        genuine[a..].find("<ns2:Signature").expect("sig") + a,
        genuine[a..].find("</ns2:Signature>").expect("sig end") + a,
    );
    let signature_open = &genuine[sa..se];
    let in_object = twin.replacen(
        "<ns1:Subject",
        &format!(
            "{signature_open}<ns2:Object>{}</ns2:Object></ns2:Signature><ns1:Subject",
            &genuine[a..e]
        ),
        1,
    );
    let object = format!("{}{in_object}{}", &genuine[..a], &genuine[e..]);
    let _ = start(app).await;
    refused(app, &b64(&object), "assertion_count", "2 assertions").await;
    // Only the Response signed, an unsigned assertion injected beside the signed one, or the
    // signed one replaced.
    let id = request_id(&start(app).await);
    let mut response_signed = solicited(id);
    response_signed.unsigned_assertion = true;
    response_signed.sign_response = true;
    let genuine = decode(&fresh(&response_signed));
    let (a, e) = assertion_span(&genuine);
    let twin = evil_twin(&genuine, "admin");
    let injected = format!("{}{twin}{}", &genuine[..e], &genuine[e..]);
    refused(app, &b64(&injected), "assertion_count", "2 assertions").await;
    let replaced = format!("{}{twin}{}", &genuine[..a], &genuine[e..]);
    let _ = start(app).await;
    refused(app, &b64(&replaced), "bad_signature", "digest mismatch").await;

    // A key that is not in the metadata; no signature at all; SHA-1.
    let id = request_id(&start(app).await);
    let mut foreign = solicited(id);
    foreign.foreign_key = true;
    refused(app, &fresh(&foreign), "untrusted_key", "not made by a key").await;
    let id = request_id(&start(app).await);
    let mut unsigned = solicited(id);
    unsigned.unsigned_assertion = true;
    refused(
        app,
        &fresh(&unsigned),
        "unsigned",
        "neither the response nor the assertion is signed",
    )
    .await;
    let id = request_id(&start(app).await);
    let mut sha1 = solicited(id);
    sha1.sha1 = true;
    refused(app, &fresh(&sha1), "sha1", "SHA-1").await;

    // For another service provider, to another ACS, out of its time.
    let other_sp = s.idp.dir.join("other-sp.xml");
    std::fs::write(
        &other_sp,
        std::fs::read_to_string(&s.idp.sp_metadata)
            .expect("SP metadata")
            .replace(
                &format!("entityID=\"{SP}\""),
                "entityID=\"https://other.example.test/sp\"",
            ),
    )
    .expect("written");
    let id = request_id(&start(app).await);
    let idp_for_other = SamlIdp {
        dir: s.idp.dir.clone(),
        metadata: s.idp.metadata.clone(),
        sp_metadata: other_sp,
        sp_entity: "https://other.example.test/sp".into(),
        acs: s.idp.acs.clone(),
    };
    let wrong_audience = solicited(id);
    refused(
        app,
        &idp_for_other.respond(&wrong_audience),
        "audience",
        "audience",
    )
    .await;
    let id = request_id(&start(app).await);
    let mut wrong_acs = solicited(id);
    wrong_acs.acs = Some("https://evil.example.com/acs".into());
    refused(app, &fresh(&wrong_acs), "destination", "addressed to").await;
    let id = request_id(&start(app).await);
    let mut stale = solicited(id);
    stale.shift = -3600;
    refused(app, &fresh(&stale), "expired", "expired").await;
    let id = request_id(&start(app).await);
    let mut future = solicited(id);
    future.shift = 3600;
    refused(app, &fresh(&future), "not_yet_valid", "not valid before").await;

    // Unsolicited (IdP-initiated is off), and an answer to another request.
    refused(
        app,
        &fresh(&alice(None)),
        "unsolicited",
        "allow_idp_initiated",
    )
    .await;
    let _ = start(app).await;
    refused(
        app,
        &fresh(&solicited("_someone-elses".into())),
        "in_response_to",
        "another sign-in",
    )
    .await;

    // DTDs: an external entity and entity expansion; an oversized post.
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
               <samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&x;</samlp:Response>";
    refused(app, &b64(xxe), "doctype", "DOCTYPE").await;
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"lol\"><!ENTITY b \"&a;&a;&a;&a;\">]>\
                  <samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&b;</samlp:Response>";
    refused(app, &b64(laughs), "doctype", "DOCTYPE").await;
    refused(app, &"A".repeat(300 * 1024), "too_large", "larger than").await;
}

async fn comments_inside_signed_values_do_not_shorten_them(backend: Backend) {
    let s = setup(backend, |_| {}).await;
    let id = request_id(&start(&s.app).await);
    let mut answer = alice(Some(id));
    answer.name_id = "admin@example.com.evil.test".into();
    answer
        .attributes
        .push(("groups".into(), "admins.evil.test".into()));
    let xml = decode(&s.idp.respond(&answer));
    let injected = xml
        .replace(
            "admin@example.com.evil.test",
            "admin@example.com<!---->.evil.test",
        )
        .replace(">admins.evil.test<", ">admins<!---->.evil.test<");
    assert_ne!(injected, xml);
    let res = post(&s.app, &b64(&injected)).await;
    assert_eq!(
        res.status,
        StatusCode::SEE_OTHER,
        "the signature still holds: {}",
        res.body
    );
    assert!(s
        .app
        .store
        .user_by_username("admin@example.com")
        .await
        .expect("store")
        .is_none());
    let groups = groups_of(&s.app, "admin@example.com.evil.test").await;
    assert!(
        groups.contains(&"admins.evil.test".to_string()),
        "{groups:?}"
    );
    assert!(!groups.contains(&"admins".to_string()), "{groups:?}");
}

async fn a_replayed_assertion_is_refused(backend: Backend) {
    let s = setup(backend, |src| src.allow_idp_initiated = true).await;
    let answer = s.idp.respond(&alice(None));
    assert_eq!(post(&s.app, &answer).await.status, StatusCode::SEE_OTHER);
    s.app.set_cookie("__Host-fedbroker-session", None);
    s.app.execute("DELETE FROM sessions").await;
    refused(&s.app, &answer, "replay", "already used").await;
}

on_both_backends!(
    every_attack_in_the_corpus_is_refused,
    comments_inside_signed_values_do_not_shorten_them,
    a_replayed_assertion_is_refused,
);

#[tokio::test]
async fn a_replay_to_another_instance_on_the_same_postgresql_is_refused() {
    let s = setup(Backend::Postgres, |src| src.allow_idp_initiated = true).await;
    let second = Application::build(
        s.app.settings.clone(),
        BuildOptions {
            bootstrap_admin_password: Some(ADMIN_PASSWORD.to_string()),
        },
    )
    .await
    .expect("second instance builds on the same database");
    let second_url = format!("http://localhost:{}", second.port());
    tokio::spawn(second.run_until_stopped());
    let answer = s.idp.respond(&alice(None));
    assert_eq!(post(&s.app, &answer).await.status, StatusCode::SEE_OTHER);
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{second_url}/saml/sp/up/acs"))
        .form(&[("SAMLResponse", answer.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.expect("body");
    assert!(body.contains("already used"), "{body}");
}

/// A broker whose source `ssp` is a real SimpleSAMLphp, and that SimpleSAMLphp, which knows
/// the broker as its SP (encrypting to the broker's certificate when `encrypt`).
async fn with_simplesamlphp(encrypt: bool) -> (TestApp, SimpleSamlPhp) {
    let idp_port = crate::peers::free_port();
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.sources.saml = vec![toml::from_str(&format!(
            "id = \"ssp\"\nname = \"SimpleSAMLphp\"\n\
             metadata_url = \"http://127.0.0.1:{idp_port}/saml2/idp/metadata.php\"\n\
             allow_idp_initiated = true\nwant_assertions_encrypted = {encrypt}\n"
        ))
        .expect("source")];
    })
    .await;
    let sp_entity = format!("{}/saml/sp/ssp", app.address);
    let metadata = app.get("/saml/sp/ssp/metadata").await;
    let cert = metadata
        .body
        .split("<ds:X509Certificate>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("a certificate in the SP metadata")
        .to_string();
    let idp = SimpleSamlPhp::start_on(
        idp_port,
        &SpEntry {
            acs_url: format!("{sp_entity}/acs"),
            slo_url: format!("{sp_entity}/slo"),
            entity_id: sp_entity,
            encrypt_to_cert_b64: encrypt.then_some(cert),
        },
        encrypt,
    )
    .await;
    (app, idp)
}

#[tokio::test]
async fn simplesamlphp_signs_people_in_from_the_login_page_and_from_its_own_portal() {
    let (app, idp) = with_simplesamlphp(false).await;
    let prefix = browser::artifacts()
        .join("upstream-saml")
        .to_string_lossy()
        .to_string();
    let shots: Vec<_> = ["login", "idp", "portal"]
        .iter()
        .map(|s| browser::screenshot(&format!("upstream-saml-{s}.png")).0)
        .collect();
    let idp_initiated = idp.sso_url_idp_initiated(&format!("{}/saml/sp/ssp", app.address));
    let out = browser::run_script(
        "upstream_saml.mjs",
        vec![app.address.clone(), idp_initiated, prefix],
    )
    .await;
    let log = idp.log();
    assert!(out.contains("button=Sign in with SimpleSAMLphp"), "{out}");
    assert!(out.contains("landed=/\n"), "{out}\n{log}");
    assert!(out.contains("sp-user=alice"), "{out}");
    assert!(out.contains("sp-roles=Deployer"), "{out}");
    assert!(out.contains("idp-user=bob"), "{out}");
    assert!(
        out.contains("idp-roles=\n"),
        "bob's groups map to no role: {out}"
    );
    assert!(!out.contains("browser error"), "{out}");
    for shot in &shots {
        browser::assert_saved(shot);
    }
    let user = app
        .store
        .user_by_username("alice")
        .await
        .expect("store")
        .expect("alice");
    assert_eq!(user.source, "ssp");
}

#[tokio::test]
async fn simplesamlphp_encrypted_assertions_sign_people_in() {
    let (app, _idp) = with_simplesamlphp(true).await;
    let prefix = browser::artifacts()
        .join("upstream-saml-encrypted")
        .to_string_lossy()
        .to_string();
    let out = browser::run_script(
        "upstream_saml.mjs",
        vec![app.address.clone(), "-".into(), prefix],
    )
    .await;
    assert!(out.contains("sp-user=alice"), "{out}");
    assert!(out.contains("sp-roles=Deployer"), "{out}");
}

/// Serves the current content of `file` over loopback HTTP (a metadata URL the test can
/// change under the broker); counts the requests.
fn serve_file(
    file: std::path::PathBuf,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = std::fs::read(&file).unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/samlmetadata+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (format!("http://127.0.0.1:{port}/metadata"), hits)
}

async fn a_rotated_idp_key_is_picked_up_and_the_retired_one_refused(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let served = dir.path().join("served.xml");
    let (metadata_url, hits) = serve_file(served.clone());
    let s = setup(backend, move |src| {
        src.allow_idp_initiated = true;
        src.metadata_file = String::new();
        src.metadata_url = metadata_url;
    })
    .await;
    std::fs::copy(&s.idp.metadata, &served).expect("metadata served");
    let res = post(&s.app, &s.idp.respond(&alice(None))).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The provider rotates: its metadata now lists only the new key ("foreign" here).
    SamlIdp::write_metadata(&s.idp.dir, "foreign", &served);
    let mut rotated = alice(None);
    rotated.foreign_key = true;
    s.app.set_cookie("__Host-fedbroker-session", None);
    let res = post(&s.app, &s.idp.respond(&rotated)).await;
    assert_eq!(
        res.status,
        StatusCode::SEE_OTHER,
        "signed by the new key after a refresh: {}",
        res.body
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
    s.app.execute("DELETE FROM sessions").await;
    refused(
        &s.app,
        &s.idp.respond(&alice(None)),
        "untrusted_key",
        "not made by a key",
    )
    .await;
}

async fn sign_out_goes_through_the_providers_single_logout(backend: Backend) {
    let s = setup(backend, |_| {}).await;
    let id = request_id(&start(&s.app).await);
    assert_eq!(
        post(&s.app, &s.idp.respond(&alice(Some(id)))).await.status,
        StatusCode::SEE_OTHER
    );
    let portal = s.app.get("/").await;
    let token = crate::helpers::hidden_field(&portal.body, "csrf_token").expect("sign-out form");
    let res = s.app.post_form("/logout", &[("csrf_token", &token)]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let url = url::Url::parse(res.location()).expect("the provider's SLO URL");
    assert_eq!(url.path(), "/idp/slo");
    let encoded = url
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.to_string())
        .expect("SAMLRequest");
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&STANDARD.decode(encoded).expect("b64")[..])
        .read_to_string(&mut xml)
        .expect("inflates");
    assert!(
        xml.contains("LogoutRequest") && xml.contains(">alice</saml:NameID>"),
        "{xml}"
    );
    assert!(xml.contains("SessionIndex"), "{xml}");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM sessions").await, 0);
    // Back from the provider: the login page.
    let back = s.app.get("/saml/sp/up/slo?SAMLResponse=x").await;
    assert_eq!(back.location(), "/login");
}

on_both_backends!(
    a_rotated_idp_key_is_picked_up_and_the_retired_one_refused,
    sign_out_goes_through_the_providers_single_logout,
);

#[tokio::test]
async fn the_admin_page_shows_each_saml_source_with_its_last_outcomes() {
    let s = setup(Backend::Sqlite, |src| src.allow_idp_initiated = true).await;
    assert_eq!(
        post(&s.app, &s.idp.respond(&alice(None))).await.status,
        StatusCode::SEE_OTHER
    );
    let mut unsigned = alice(None);
    unsigned.unsigned_assertion = true;
    assert_eq!(
        post(&s.app, &s.idp.respond(&unsigned)).await.status,
        StatusCode::BAD_REQUEST
    );
    s.app.set_cookie("__Host-fedbroker-session", None);
    // alice is no admin.
    assert_ne!(s.app.get("/admin/sources").await.status, StatusCode::OK);
    s.app.login_as_admin().await;
    let page = s.app.get("/admin/sources").await;
    assert_eq!(page.status, StatusCode::OK);
    let fingerprint = {
        let pem = std::fs::read(s.idp.dir.join("idp.crt")).expect("cert");
        let cert = openssl::x509::X509::from_pem(&pem).expect("x509");
        hex::encode(
            cert.digest(openssl::hash::MessageDigest::sha256())
                .expect("digest"),
        )
    };
    assert!(page.body.contains(&fingerprint), "{}", page.body);
    assert!(page.body.contains(IDP_ENTITY), "{}", page.body);
    assert!(page.body.contains(&format!("{SP}/acs")), "{}", page.body);
    let refusal = page
        .body
        .split("class=\"last-refusal\">")
        .nth(1)
        .unwrap_or_default();
    assert!(
        refusal.starts_with("20")
            && refusal.contains("neither the response nor the assertion is signed"),
        "{refusal}"
    );
    let success = page
        .body
        .split("class=\"last-success\">")
        .nth(1)
        .unwrap_or_default();
    assert!(success.starts_with("20"), "{success}");
}

#[tokio::test]
async fn authn_requests_are_signed_over_the_query_string_when_configured() {
    let s = setup(Backend::Sqlite, |src| src.sign_authn_requests = true).await;
    let metadata = std::fs::read_to_string(&s.idp.sp_metadata).expect("SP metadata");
    assert!(
        metadata.contains("AuthnRequestsSigned=\"true\""),
        "{metadata}"
    );
    let cert_b64 = metadata
        .split("<ds:X509Certificate>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("certificate");
    let cert =
        openssl::x509::X509::from_der(&STANDARD.decode(cert_b64).expect("b64")).expect("x509");
    let res = s.app.get("/login/saml/up").await;
    let location = res.location().to_string();
    let query = location.split_once('?').expect("query").1;
    let (signed, signature) = query.split_once("&Signature=").expect("a Signature");
    assert!(
        signed.starts_with("SAMLRequest=") && signed.contains("&SigAlg="),
        "{signed}"
    );
    assert!(!signature.is_empty());
    let key = cert.public_key().expect("key");
    let signature = STANDARD.decode(signature_of(&location)).expect("b64");
    let verifies = |data: &str| {
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key)
            .and_then(|mut v| v.verify_oneshot(&signature, data.as_bytes()))
            .unwrap_or(false)
    };
    assert!(
        verifies(signed),
        "the Redirect-binding signature checks against the SP metadata's certificate"
    );
    assert!(!verifies(&signed.replace("SAMLRequest=", "SAMLRequest=x")));
}

fn signature_of(location: &str) -> String {
    url::Url::parse(location)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "Signature")
        .map(|(_, v)| v.to_string())
        .expect("Signature")
}

#[tokio::test]
async fn sha1_signatures_are_accepted_only_when_allowed() {
    let s = setup(Backend::Sqlite, |src| {
        src.allow_idp_initiated = true;
        src.allow_sha1 = true;
    })
    .await;
    let mut sha1 = alice(None);
    sha1.sha1 = true;
    let res = post(&s.app, &s.idp.respond(&sha1)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
}

#[tokio::test]
async fn a_signed_assertion_moved_out_of_its_place_is_refused() {
    let s = setup(Backend::Sqlite, |src| src.allow_idp_initiated = true).await;
    let genuine = decode(&s.idp.respond(&alice(None)));
    let (a, e) = assertion_span(&genuine);
    // Alone, but inside Extensions instead of directly under the Response.
    let moved = format!(
        "{}<ns0:Extensions>{}</ns0:Extensions>{}",
        &genuine[..a],
        &genuine[a..e],
        &genuine[e..]
    );
    refused(
        &s.app,
        &b64(&moved),
        "assertion_place",
        "not where a Response carries it",
    )
    .await;
}
