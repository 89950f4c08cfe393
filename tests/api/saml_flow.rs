//! Console sign-in end to end: metadata from `/saml/metadata`, the auto-POST page, regional
//! failover between real pysaml2 service providers on loopback, and key rotation.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;

use crate::helpers::{hidden_field, spawn_app, spawn_app_with, Backend, TestApp};
use crate::on_both_backends;
pub use crate::peers::sign_in_endpoint::SignInEndpoint;
use crate::saml::pysaml2_accepts;

/// The auto-POST page's form: (action, SAMLResponse, RelayState).
pub fn autopost_form(html: &str) -> (String, String, String) {
    let action = html
        .split("id=\"saml-autopost\"")
        .next()
        .and_then(|before| before.rsplit("action=\"").next())
        .and_then(|rest| rest.split('"').next())
        .expect("form action")
        .to_string();
    let response = hidden_field(html, "SAMLResponse").expect("SAMLResponse");
    let relay = hidden_field(html, "RelayState")
        .expect("RelayState")
        .replace("&amp;", "&");
    (action, response, relay)
}

/// What the auto-POST page makes the browser do.
pub async fn post_like_a_browser(
    action: &str,
    saml: &str,
    relay: &str,
) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new()
        .post(action)
        .form(&[("SAMLResponse", saml), ("RelayState", relay)])
        .send()
        .await
}

async fn console(app: &TestApp, role: &str, region: &str) -> crate::helpers::Page {
    let token = app.get("/").await.csrf_token();
    app.post_form(
        "/saml/aws/sso",
        &[("csrf_token", &token), ("role", role), ("region", region)],
    )
    .await
}

const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/Admin";

async fn console_sign_in_fails_over_to_the_next_region(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("idp-metadata.xml");
    let mut east = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let west = SignInEndpoint::start(dir.path(), "us-west-2", &metadata);
    let (east_url, west_url) = (east.url.clone(), west.url.clone());
    let app = spawn_app_with(backend, |s| {
        s.regions.acs = crate::helpers::entries([
            format!("us-east-2={east_url}"),
            format!("us-west-2={west_url}"),
        ]);
    })
    .await;
    // IAM gets its metadata from /saml/metadata; so does the endpoint.
    let md = app.get("/saml/metadata").await;
    assert_eq!(md.status, StatusCode::OK);
    assert!(md.headers["content-type"]
        .to_str()
        .unwrap_or("")
        .contains("samlmetadata+xml"));
    std::fs::write(&metadata, &md.body).expect("write metadata");

    app.create_user(
        "alice",
        "alice-password-1",
        &["AWS-123456789012-Admin", "AWS-210987654321-Dev"],
    )
    .await;
    app.login("alice", "alice-password-1").await;
    let portal = app.get("/").await;
    assert!(
        portal.body.contains(ADMIN_ROLE),
        "portal lists the role: {}",
        portal.body
    );
    assert!(portal.body.contains("Account 210987654321"));

    app.regions.probe_all(fedbroker::clock::now()).await;
    let page = console(&app, ADMIN_ROLE, "").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(
        csp.contains(&format!(
            "form-action 'self' {}",
            east_url.trim_end_matches("/saml")
        )),
        "{csp}"
    );
    let (action, saml, relay) = autopost_form(&page.body);
    assert_eq!(action, east.url);
    assert!(
        relay.starts_with("https://us-east-2.console.aws.amazon.com/"),
        "{relay}"
    );
    // The browser's POST, done here by the client.
    let res = post_like_a_browser(&action, &saml, &relay)
        .await
        .expect("post to endpoint");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let got = east.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["ok"], true, "{}", got[0]);
    assert_eq!(got[0]["destination"], east.url.as_str());
    assert_eq!(got[0]["recipient"], east.url.as_str());
    assert_eq!(got[0]["relay_state"], relay.as_str());
    assert_eq!(
        got[0]["attributes"]["https://aws.amazon.com/SAML/Attributes/Role"][0],
        "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/fedbroker",
        "{}",
        got[0]
    );
    assert_eq!(
        got[0]["attributes"]["https://aws.amazon.com/SAML/Attributes/SessionDuration"][0],
        "3600"
    );

    // us-east-2 goes down: the next console sign-in goes to us-west-2, built for us-west-2.
    east.stop();
    app.regions.probe_all(fedbroker::clock::now()).await;
    let page = console(&app, ADMIN_ROLE, "").await;
    let (action, saml, relay) = autopost_form(&page.body);
    assert_eq!(action, west.url);
    assert!(
        relay.starts_with("https://us-west-2.console.aws.amazon.com/"),
        "{relay}"
    );
    let res = post_like_a_browser(&action, &saml, &relay)
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::OK);
    let got = west.received();
    assert_eq!(got[0]["destination"], west.url.as_str());
    assert_eq!(got[0]["recipient"], west.url.as_str());
    // An assertion for us-west-2 is refused by a us-east-2 endpoint (Recipient/Destination bind it).
    let (ok, _) = pysaml2_accepts(&saml, &east.url, &metadata, false);
    assert!(!ok);

    // Choosing the dead Region explicitly gets a clear refusal.
    let page = console(&app, ADMIN_ROLE, "us-east-2").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("us-east-2"), "{}", page.body);
    // With every Region down, the page says so instead of failing obscurely.
    let mut west = west;
    west.stop();
    app.regions.probe_all(fedbroker::clock::now()).await;
    let page = console(&app, ADMIN_ROLE, "").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.body.contains("no AWS sign-in Region is available"),
        "{}",
        page.body
    );
}

async fn a_role_the_user_does_not_have_is_refused(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.create_user("bob", "bob-password-12", &["AWS-210987654321-Dev"])
        .await;
    app.login("bob", "bob-password-12").await;
    let page = console(&app, ADMIN_ROLE, "").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body.contains("is not one of your roles"),
        "{}",
        page.body
    );
    let res = app
        .post_form(
            "/saml/aws/sso",
            &[
                ("csrf_token", "forged"),
                ("role", "arn:aws:iam::210987654321:role/Dev"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "CSRF token required");
}

async fn admins_pin_and_drain_regions(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("md.xml");
    let (a, b, c) = (
        SignInEndpoint::start(dir.path(), "a", &metadata),
        SignInEndpoint::start(dir.path(), "b", &metadata),
        SignInEndpoint::start(dir.path(), "c", &metadata),
    );
    let acs = vec![
        format!("us-east-2={}", a.url),
        format!("us-west-2={}", b.url),
        format!("us-east-1={}", c.url),
    ];
    let app = spawn_app_with(backend, |s| s.regions.acs = crate::helpers::entries(acs)).await;
    app.regions.probe_all(fedbroker::clock::now()).await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login_as_admin().await;
    let page = app.get("/admin/regions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&b.url), "{}", page.body);
    let token = page.csrf_token();
    for (action, region) in [("drain", "us-east-2"), ("pin", "us-east-1")] {
        let res = app
            .post_form(
                "/admin/regions",
                &[
                    ("csrf_token", &token),
                    ("action", action),
                    ("region", region),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    }
    let choice = app.regions.choose(None).await.expect("a Region");
    assert_eq!(choice.endpoint.region.as_str(), "us-east-1");
    assert!(app
        .get("/admin/regions")
        .await
        .body
        .contains("Serving now: <strong id=\"serving\">us-east-1"));
    app.post_form(
        "/admin/regions",
        &[
            ("csrf_token", &token),
            ("action", "clear"),
            ("region", "us-east-1"),
        ],
    )
    .await;
    let choice = app.regions.choose(None).await.expect("a Region");
    assert_eq!(
        choice.endpoint.region.as_str(),
        "us-west-2",
        "us-east-2 is still drained"
    );
    let res = app
        .post_form(
            "/admin/regions",
            &[
                ("csrf_token", &token),
                ("action", "pin"),
                ("region", "mars-1"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
}

/// Signs alice in to the console and hands the Response to the verifiers the way AWS gets
/// it: the sign-in endpoint (pysaml2) reading the metadata just published, and xmlsec1 with
/// the published certificates only. Returns the SAMLResponse.
async fn console_response_verifies_against_published_metadata(
    app: &TestApp,
    alice: &TestApp,
    endpoint: &SignInEndpoint,
    metadata: &Path,
    step: &str,
) -> String {
    let published = app.get("/saml/metadata").await.body;
    std::fs::write(metadata, &published).expect("publish metadata");
    let page = console(alice, ADMIN_ROLE, "").await;
    assert_eq!(page.status, StatusCode::OK, "{step}: {}", page.body);
    let (action, saml, relay) = autopost_form(&page.body);
    let dir = metadata.parent().expect("dir");
    if let Err(reason) = crate::saml::verify_against_metadata(dir, &saml, &action, &published) {
        panic!("{step}: refused against the published metadata: {reason}");
    }
    let before = endpoint.received().len();
    let res = post_like_a_browser(&action, &saml, &relay)
        .await
        .expect("post to the sign-in endpoint");
    let got = endpoint.received();
    assert_eq!(got.len(), before + 1, "{step}");
    assert_eq!(got[before]["ok"], true, "{step}: {}", got[before]);
    assert_eq!(res.status(), StatusCode::OK, "{step}");
    saml
}

/// The certificate in the Response's KeyInfo (what signed it, as the Response claims).
fn signing_certificate(saml: &str) -> String {
    let xml = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, saml).expect("b64"),
    )
    .expect("utf8");
    crate::saml::published_certificates(&xml)
        .first()
        .cloned()
        .expect("cert")
}

async fn keys_rotate_without_breaking_sign_in(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("md.xml");
    let endpoint = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let acs = vec![format!("us-east-2={}", endpoint.url)];
    let app = spawn_app_with(backend, |s| s.regions.acs = crate::helpers::entries(acs)).await;
    app.regions.probe_all(fedbroker::clock::now()).await;
    app.login_as_admin().await;
    let first = crate::saml::published_certificates(&app.get("/saml/metadata").await.body);
    assert_eq!(first.len(), 1, "one key after first start");
    let token = app.get("/admin/keys").await.csrf_token();
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    let alice = crate::helpers::spawn_client_for(&app);
    alice.login("alice", "alice-password-1").await;
    let signed_by_old = console_response_verifies_against_published_metadata(
        &app, &alice, &endpoint, &metadata, "start",
    )
    .await;

    // Add: the new key is published but does not sign yet.
    let res = app
        .post_form("/admin/keys", &[("csrf_token", &token), ("action", "add")])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let both = crate::saml::published_certificates(&app.get("/saml/metadata").await.body);
    assert_eq!(both.len(), 2);
    let new_cert = both
        .iter()
        .find(|c| !first.contains(c))
        .expect("new cert")
        .clone();
    let keys_page = app.get("/admin/keys").await.body;
    let new_kid = keys_page
        .split("data-kid=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .find(|kid| {
            keys_page.contains(&format!(
                "data-kid=\"{kid}\"><td><code>{kid}</code></td><td class=\"state-published\">"
            ))
        })
        .expect("published kid")
        .to_string();
    let saml = console_response_verifies_against_published_metadata(
        &app,
        &alice,
        &endpoint,
        &metadata,
        "after add",
    )
    .await;
    assert_eq!(
        signing_certificate(&saml),
        first[0],
        "the old key still signs"
    );

    // Activate: the new key signs; the old one stays in metadata.
    let res = app
        .post_form(
            "/admin/keys",
            &[
                ("csrf_token", &token),
                ("action", "activate"),
                ("kid", &new_kid),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let saml = console_response_verifies_against_published_metadata(
        &app,
        &alice,
        &endpoint,
        &metadata,
        "after activate",
    )
    .await;
    assert_eq!(signing_certificate(&saml), new_cert, "the new key signs");
    assert_eq!(
        crate::saml::published_certificates(&app.get("/saml/metadata").await.body).len(),
        2
    );

    // Retiring the active key is refused with the reason; retiring the old one removes it.
    let res = app
        .post_form(
            "/admin/keys",
            &[
                ("csrf_token", &token),
                ("action", "retire"),
                ("kid", &new_kid),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.body.contains("activate another key first"),
        "{}",
        res.body
    );
    let old_kid = keys_page
        .split("data-kid=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .find(|k| *k != new_kid)
        .expect("old kid")
        .to_string();
    let res = app
        .post_form(
            "/admin/keys",
            &[
                ("csrf_token", &token),
                ("action", "retire"),
                ("kid", &old_kid),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let published = app.get("/saml/metadata").await.body;
    assert_eq!(
        crate::saml::published_certificates(&published),
        vec![new_cert]
    );
    console_response_verifies_against_published_metadata(
        &app,
        &alice,
        &endpoint,
        &metadata,
        "after retire",
    )
    .await;
    // A Response the retired key signed (still within its validity) no longer verifies
    // against what is published, and the verifiers say it is the signature.
    let refusal =
        crate::saml::verify_against_metadata(dir.path(), &signed_by_old, &endpoint.url, &published)
            .expect_err("the retired key's Response is refused");
    assert!(
        refusal.starts_with("xmlsec1: no published certificate verifies")
            && refusal.contains("FAIL"),
        "{refusal}"
    );
    let (ok, out) = pysaml2_accepts(&signed_by_old, &endpoint.url, &metadata, true);
    assert!(!ok, "{out}");
    assert!(out.contains("SignatureError"), "{out}");
}

/// What STS taught about a role's MaxSessionDuration (on the CLI path) shortens console
/// sign-ins too: AWS would otherwise refuse the SAML POST with its own error page. The pysaml2
/// sign-in endpoint reads the SessionDuration the browser posts.
async fn a_learned_max_session_duration_shortens_console_sign_ins(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("idp-metadata.xml");
    let east = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let east_url = east.url.clone();
    let app = spawn_app_with(backend, |s| {
        s.regions.acs = crate::helpers::entries([format!("us-east-2={east_url}")]);
        s.saml.session_duration_secs = 28_800;
    })
    .await;
    std::fs::write(&metadata, app.get("/saml/metadata").await.body).expect("metadata");
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    app.regions.probe_all(fedbroker::clock::now()).await;
    let duration_posted = || async {
        let page = console(&app, ADMIN_ROLE, "").await;
        let (action, saml, relay) = autopost_form(&page.body);
        let res = post_like_a_browser(&action, &saml, &relay)
            .await
            .expect("post");
        assert_eq!(res.status(), StatusCode::OK);
        let got = east.received();
        got.last().expect("received")["attributes"]
            ["https://aws.amazon.com/SAML/Attributes/SessionDuration"][0]
            .clone()
    };
    assert_eq!(duration_posted().await, "28800", "the rules' duration");
    app.store
        .set_role_session_limit(ADMIN_ROLE, 3600, 28_800, fedbroker::clock::now())
        .await
        .expect("learned");
    assert_eq!(
        duration_posted().await,
        "3600",
        "clamped to what STS accepts"
    );
}

on_both_backends!(
    a_learned_max_session_duration_shortens_console_sign_ins,
    console_sign_in_fails_over_to_the_next_region,
    a_role_the_user_does_not_have_is_refused,
    admins_pin_and_drain_regions,
    keys_rotate_without_breaking_sign_in,
);

async fn a_pre_flight_violation_is_shown_and_nothing_is_signed(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = SignInEndpoint::start(dir.path(), "us-east-2", &dir.path().join("md.xml"));
    let acs = vec![format!("us-east-2={}", endpoint.url)];
    let app = spawn_app_with(backend, |s| {
        s.regions.acs = crate::helpers::entries(acs);
        s.saml.principal_tags = vec!["Name={display_name}".into()];
    })
    .await;
    app.regions.probe_all(fedbroker::clock::now()).await;
    app.create_user("eve", "eve-password-123", &["AWS-123456789012-Admin"])
        .await;
    // A display name with characters AWS refuses in a tag value.
    app.execute("UPDATE users SET display_name = 'Eve <Ops>' WHERE username = 'eve'")
        .await;
    app.login("eve", "eve-password-123").await;
    let page = console(&app, ADMIN_ROLE, "").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("PrincipalTag:Name"), "{}", page.body);
    assert!(
        page.body.contains("Eve &#60;Ops&#62;"),
        "the value is named: {}",
        page.body
    );
    assert!(
        page.body.contains("not a valid tag value"),
        "the rule is named: {}",
        page.body
    );
    assert!(
        !page.body.contains("SAMLResponse"),
        "nothing signed or posted"
    );
}

async fn trust_policies_list_every_regional_acs_url(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.regions.acs = crate::helpers::entries(["us-east-2", "us-west-2"]);
        s.saml.principal_tags = vec!["Email={email}".into()];
    })
    .await;
    app.create_user(
        "alice",
        "alice-password-1",
        &["AWS-123456789012-Admin", "AWS-210987654321-Dev"],
    )
    .await;
    app.login_as_admin().await;
    let page = app.get("/admin/trust-policy").await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        "arn:aws:iam::123456789012:saml-provider/fedbroker",
        "arn:aws:iam::210987654321:saml-provider/fedbroker",
        "https://us-east-2.signin.aws.amazon.com/saml",
        "https://us-west-2.signin.aws.amazon.com/saml",
        "sts:AssumeRoleWithSAML",
        "sts:SetSourceIdentity",
        "sts:TagSession",
        "SAML:aud",
    ] {
        assert!(
            page.body.contains(needle),
            "{needle} missing: {}",
            page.body
        );
    }
}

on_both_backends!(
    a_pre_flight_violation_is_shown_and_nothing_is_signed,
    trust_policies_list_every_regional_acs_url,
);

#[test]
fn the_trust_policy_command_prints_the_policy_for_a_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .current_dir(dir.path())
        .env("FEDBROKER_CONFIG_DIR", crate::helpers::config_dir())
        .env(
            "FEDBROKER__DATABASE__URL",
            format!("sqlite://{}/fb.db", dir.path().display()),
        )
        .env(
            "FEDBROKER__REGIONS__ACS",
            "[\"us-east-2\", \"us-west-2\", \"us-east-1\"]",
        )
        .args([
            "trust-policy",
            "--role",
            "arn:aws:iam::123456789012:role/team/Admin",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Pure JSON: it pipes into jq and `aws iam create-role --assume-role-policy-document`.
    let policy: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let stmt = &policy["Statement"][0];
    assert_eq!(
        stmt["Principal"]["Federated"],
        "arn:aws:iam::123456789012:saml-provider/fedbroker"
    );
    assert_eq!(
        stmt["Condition"]["StringEquals"]["SAML:aud"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        stmt["Action"],
        serde_json::json!(["sts:AssumeRoleWithSAML", "sts:SetSourceIdentity"])
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .current_dir(dir.path())
        .env("FEDBROKER_CONFIG_DIR", crate::helpers::config_dir())
        .args(["trust-policy", "--role", "arn:aws:iam::123:role/X"])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("12-digit"));
}

#[tokio::test]
async fn postgres_without_a_key_encryption_key_is_refused_with_the_fix() {
    let (url, _dir) = crate::helpers::fresh_database(Backend::Postgres).await;
    let mut settings = crate::helpers::test_settings(&url);
    settings.saml.key_encryption_key = Default::default();
    let err = fedbroker::startup::Application::build(settings, Default::default())
        .await
        .err()
        .expect("refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("saml.key_encryption_key") && msg.contains("openssl rand -base64 32"),
        "{msg}"
    );
}

async fn the_multi_role_chooser_sends_every_role_in_one_assertion(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("md.xml");
    let endpoint = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let acs = vec![format!("us-east-2={}", endpoint.url)];
    let app = spawn_app_with(backend, |s| {
        s.regions.acs = crate::helpers::entries(acs);
        s.saml.multi_role_chooser = true;
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
    app.login("alice", "alice-password-1").await;
    let page = console(&app, "", "").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (action, saml, _) = autopost_form(&page.body);
    let (ok, out) = pysaml2_accepts(&saml, &action, &metadata, false);
    assert!(ok, "{out}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let roles = summary["attributes"]["https://aws.amazon.com/SAML/Attributes/Role"]
        .as_array()
        .expect("roles")
        .len();
    assert_eq!(
        roles, 2,
        "AWS shows its own chooser for several Role values: {summary}"
    );
}

on_both_backends!(the_multi_role_chooser_sends_every_role_in_one_assertion);

async fn a_rules_session_duration_and_deep_link_reach_the_sign_in_endpoint(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("md.xml");
    let endpoint = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let acs = vec![format!("us-east-2={}", endpoint.url)];
    let app = spawn_app_with(backend, |s| s.regions.acs = crate::helpers::entries(acs)).await;
    std::fs::write(&metadata, app.get("/saml/metadata").await.body).expect("metadata");
    app.regions.probe_all(fedbroker::clock::now()).await;
    let doc = fedbroker::mapping::RulesDocument::from_yaml(
        "version: 1\nrules:\n- name: S3 operators\n  match: s3-ops\n  role: arn:aws:iam::123456789012:role/S3Operator\n  session_duration: 7200\n  relay_state: https://console.aws.amazon.com/s3/home\n",
        fedbroker::domain::aws::Partition::Aws,
    )
    .expect("valid");
    crate::mapping::import(&app, &doc).await;
    app.create_user("alice", "alice-password-1", &["S3-OPS"])
        .await;
    app.login("alice", "alice-password-1").await;
    let page = console(&app, "arn:aws:iam::123456789012:role/S3Operator", "").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (action, saml, relay) = autopost_form(&page.body);
    assert_eq!(relay, "https://console.aws.amazon.com/s3/home");
    let (ok, out) = pysaml2_accepts(&saml, &action, &metadata, false);
    assert!(ok, "{out}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(
        summary["attributes"]["https://aws.amazon.com/SAML/Attributes/SessionDuration"],
        serde_json::json!(["7200"]),
        "{summary}"
    );
}

on_both_backends!(a_rules_session_duration_and_deep_link_reach_the_sign_in_endpoint);

/// Every Response the broker sends lives exactly `saml.assertion_validity_secs` and starts
/// `saml.clock_skew_secs` before it was issued, as an independent verifier reads it: the
/// console POST (through the portal's form) and the assertion exchanged at STS (as the STS
/// stand-in received it). Odd values, so neither the defaults nor the session length pass.
async fn every_response_lives_exactly_the_configured_validity(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("md.xml");
    let endpoint = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let standin = crate::sts::Peer::standin(dir.path(), 43200).await;
    let acs = vec![format!("us-east-2={}", endpoint.url)];
    let sts = vec![format!("us-east-2={}", standin.url())];
    let app = spawn_app_with(backend, |s| {
        s.regions.acs = crate::helpers::entries(acs);
        s.sts.endpoints = crate::helpers::entries(sts);
        s.saml.assertion_validity_secs = 247;
        s.saml.clock_skew_secs = 61;
    })
    .await;
    let published = app.get("/saml/metadata").await.body;
    std::fs::write(&metadata, &published).expect("metadata");
    app.regions.probe_all(fedbroker::clock::now()).await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;

    let page = console(&app, ADMIN_ROLE, "").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (action, saml, _) = autopost_form(&page.body);
    let summary = crate::saml::verify_against_metadata(dir.path(), &saml, &action, &published)
        .expect("the console Response verifies");
    crate::saml::assert_lifetime(&summary, 247, 61);

    let page = crate::sts::cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let calls = standin.received();
    let sent = calls
        .iter()
        .find(|c| c["kind"] == "sts")
        .and_then(|c| c["assertion"].as_str())
        .expect("the stand-in received the SAMLAssertion");
    let summary = crate::saml::verify_against_metadata(dir.path(), sent, &endpoint.url, &published)
        .expect("the STS assertion verifies");
    crate::saml::assert_lifetime(&summary, 247, 61);
}

on_both_backends!(every_response_lives_exactly_the_configured_validity);

#[tokio::test]
async fn trust_policies_for_every_account_come_as_json_or_one_file_each() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_user(
        "alice",
        "alice-password-1",
        &["AWS-123456789012-Admin", "AWS-210987654321-Dev"],
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fedbroker"))
            .current_dir(dir.path())
            .env("FEDBROKER_CONFIG_DIR", crate::helpers::config_dir())
            .env("FEDBROKER__DATABASE__URL", &app.settings.database.url)
            .env(
                "FEDBROKER__SAML__KEY_ENCRYPTION_KEY",
                app.settings.saml.key_encryption_key.expose(),
            )
            .args(args)
            .output()
            .expect("runs")
    };
    let succeed = |args: &[&str]| {
        let out = run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let out = succeed(&["trust-policy", "--all"]);
    let documents: serde_json::Value = serde_json::from_slice(&out.stdout).expect("pure JSON");
    let accounts: Vec<&str> = documents
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|d| d["account"].as_str())
        .collect();
    assert_eq!(accounts, ["123456789012", "210987654321"]);
    let folder = dir.path().join("policies");
    let out = succeed(&[
        "trust-policy",
        "--all",
        "--out-dir",
        folder.to_str().expect("utf-8"),
    ]);
    assert!(out.stdout.is_empty());
    let written: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("210987654321.json")).expect("one file per account"),
    )
    .expect("JSON");
    assert_eq!(
        written["Statement"][0]["Principal"]["Federated"],
        "arn:aws:iam::210987654321:saml-provider/fedbroker"
    );

    // Accounts nobody in the database has a group for yet (people of upstream sources bring
    // theirs at sign-in) are covered from the rules: a rule's own account, and each named
    // account for a rule that takes the account from the group name.
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "version: 1\nrules:\n\
         - name: AD FS convention\n  match: AWS-(?P<account>[0-9]{12})-(?P<role>[A-Za-z]+)\n  \
         role: arn:${partition}:iam::${account}:role/${role}\n\
         - name: Auditors\n  match: auditors\n  role: arn:aws:iam::444455556666:role/Audit\n\
         accounts:\n- id: '777788889999'\n  name: Sandbox\n",
    )
    .expect("write");
    succeed(&["rules", "import", rules.to_str().expect("utf-8")]);
    let out = succeed(&["trust-policy", "--all"]);
    let documents: serde_json::Value = serde_json::from_slice(&out.stdout).expect("pure JSON");
    let by_account = |id: &str| {
        documents
            .as_array()
            .expect("array")
            .iter()
            .find(|d| d["account"] == id)
            .unwrap_or_else(|| panic!("no policy for {id}: {documents:#}"))
            .clone()
    };
    let auditors = by_account("444455556666");
    assert_eq!(
        auditors["roles"],
        serde_json::json!(["arn:aws:iam::444455556666:role/Audit"])
    );
    assert_eq!(auditors["rules"], serde_json::json!(["Auditors"]));
    let sandbox = by_account("777788889999");
    assert_eq!(
        sandbox["roles"],
        serde_json::json!(["arn:aws:iam::777788889999:role/*"])
    );
    assert_eq!(sandbox["rules"], serde_json::json!(["AD FS convention"]));
    assert_eq!(
        sandbox["policy"]["Statement"][0]["Principal"]["Federated"],
        "arn:aws:iam::777788889999:saml-provider/fedbroker"
    );
    // Roles granted to groups already known stay listed.
    let known = by_account("123456789012");
    assert!(known["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .any(|r| r == "arn:aws:iam::123456789012:role/Admin"));
}
