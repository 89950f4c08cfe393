//! CLI credentials through AssumeRoleWithSAML: the real aws-sdk-sts against `moto_server` on
//! loopback, regional failover, and the MaxSessionDuration and federation paths against a
//! loopback STAND-IN (`tests/peers/aws_standin.py`) that answers in AWS's exact wire formats,
//! because no emulator here has those behaviours.

use reqwest::StatusCode;

use crate::helpers::{hidden_field, spawn_app_with, Backend, TestApp};
use crate::on_both_backends;
pub use crate::peers::aws::Peer;
use crate::peers::free_port;

pub const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/Admin";

/// A broker whose STS endpoints are `endpoints` (`REGION=URL`), with alice in the Admin group.
pub async fn app_with_sts(backend: Backend, endpoints: Vec<String>) -> TestApp {
    let app = spawn_app_with(backend, |s| {
        s.sts.endpoints = crate::helpers::entries(endpoints);
        s.sts.attempt_timeout_secs = 2;
        s.sts.connect_timeout_secs = 1;
    })
    .await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    app
}

/// Presses "CLI credentials" on a role.
pub async fn cli_credentials(app: &TestApp, role: &str) -> crate::helpers::Page {
    let token = app.get("/").await.csrf_token();
    app.post_form("/credentials", &[("csrf_token", &token), ("role", role)])
        .await
}

fn block<'a>(body: &'a str, id: &str) -> &'a str {
    body.split(&format!("id=\"format-{id}\">"))
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("format {id} shown"))
}

/// Every audit event of a type.
pub async fn audit_of(app: &TestApp, event_type: &str) -> Vec<fedbroker::store::AuditRecord> {
    app.store
        .audit_events(
            &fedbroker::store::AuditFilter {
                event_type: Some(event_type.into()),
                ..Default::default()
            },
            100,
        )
        .await
        .expect("audit events")
}

async fn credentials_come_from_moto_through_the_sdk(backend: Backend) {
    let moto = Peer::moto().await;
    let app = app_with_sts(backend, vec![format!("us-east-2={}", moto.url())]).await;
    // A limit learned two days ago is tried again; moto accepts the full hour, so it is
    // forgotten.
    let two_days_ago = fedbroker::clock::now() - 2 * 86_400;
    app.store
        .set_role_session_limit(ADMIN_ROLE, 900, 3600, two_days_ago)
        .await
        .expect("learned");
    let page = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        app.store
            .role_session_limit(ADMIN_ROLE)
            .await
            .expect("read")
            .is_none(),
        "STS accepted more than the old limit"
    );
    assert!(!page.body.contains("id=\"adjusted\""), "no shortening said");
    let bash = block(&page.body, "bash");
    let key_id = bash
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("export AWS_ACCESS_KEY_ID="))
        .expect("key id line")
        .to_string();
    assert!(key_id.starts_with("ASIA"), "{key_id}");
    let secret = bash
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("export AWS_SECRET_ACCESS_KEY="))
        .expect("secret line")
        .to_string();
    assert!(block(&page.body, "fish").contains(&format!("set -x AWS_ACCESS_KEY_ID {key_id}")));
    assert!(block(&page.body, "powershell")
        .contains(&format!("$Env:AWS_ACCESS_KEY_ID=&#34;{key_id}&#34;")));
    let file = block(&page.body, "credentials-file");
    assert!(file.starts_with("[123456789012-admin]"), "{file}");
    assert!(file.contains(&format!("aws_secret_access_key = {secret}")));
    let json = block(&page.body, "credential-process").replace("&#34;", "\"");
    let process: serde_json::Value = serde_json::from_str(&json).expect("credential_process JSON");
    assert_eq!(process["Version"], 1);
    assert_eq!(process["AccessKeyId"], key_id.as_str());
    assert!(process["Expiration"].as_str().unwrap_or("").ends_with('Z'));
    assert!(
        page.body.contains("assumed-role/Admin/alice"),
        "{}",
        page.body
    );
    assert_eq!(
        page.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );

    let events = audit_of(&app, "sts.assume_role").await;
    assert_eq!(events.len(), 1, "one STS event per call");
    assert_eq!(events[0].outcome, "success");
    assert_eq!(events[0].role_arn, ADMIN_ROLE);
    assert!(events[0].details.contains(&moto.url()));
    assert!(events[0].details.contains("assumed-role/Admin/alice"));
    assert_eq!(audit_of(&app, "assertion.issued").await.len(), 1);
    // Nothing secret in any event, nor in the rest of the database.
    let all = app
        .store
        .audit_events(&Default::default(), 1000)
        .await
        .expect("events");
    for e in &all {
        let text = serde_json::to_string(e).expect("json");
        assert!(!text.contains(&secret), "secret key in {text}");
        assert!(
            !text.contains("SAMLResponse") && !text.contains("PHNhbWxw"),
            "{text}"
        );
    }
}

async fn sts_fails_over_to_the_next_region_and_remembers_the_dead_one(backend: Backend) {
    let moto = Peer::moto().await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let app = app_with_sts(
        backend,
        vec![
            format!("us-east-2={dead}"),
            format!("us-west-2={}", moto.url()),
        ],
    )
    .await;
    let page = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("issued by STS in us-west-2"));
    let events = audit_of(&app, "sts.assume_role").await;
    assert!(
        events[0].details.contains(&dead),
        "failed endpoint recorded"
    );

    let admin = crate::helpers::spawn_client_for(&app);
    admin.login_as_admin().await;
    let regions = admin.get("/admin/regions").await;
    let row = regions
        .body
        .split(&format!("data-url=\"{dead}\""))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .expect("dead endpoint listed");
    assert!(row.contains(">down<"), "{row}");

    // The dead endpoint is skipped now: the next call goes straight to the healthy one.
    let again = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(again.status, StatusCode::OK);
    let latest = &audit_of(&app, "sts.assume_role").await[0];
    assert!(!latest.details.contains(&dead), "{}", latest.details);
}

async fn every_sts_endpoint_down_gives_a_clear_page_and_an_audit_event(backend: Backend) {
    let app = app_with_sts(
        backend,
        vec![
            format!("us-east-2=http://127.0.0.1:{}", free_port()),
            format!("us-west-2=http://127.0.0.1:{}", free_port()),
        ],
    )
    .await;
    let page = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("no AWS STS endpoint answered"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Console button"));
    let events = audit_of(&app, "sts.assume_role").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].outcome, "failure");
    // A role the user does not have never reaches STS.
    let refused = cli_credentials(&app, "arn:aws:iam::999999999999:role/Admin").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(audit_of(&app, "sts.assume_role").await.len(), 1);
}

async fn a_too_long_duration_is_retried_once_remembered_and_explained(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let standin = Peer::standin(dir.path(), 3600).await;
    let app = app_with_sts(backend, vec![format!("us-east-2={}", standin.url())]).await;
    // The rule asks for 8 hours.
    app.execute("UPDATE mapping_rules SET session_duration = 28800")
        .await;
    app.execute("UPDATE rule_set_state SET generation = generation + 1")
        .await;

    let page = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let note = page
        .body
        .split("id=\"adjusted\">")
        .nth(1)
        .expect("explained");
    assert!(note.contains("refused a 8-hour session"), "{note}");
    // The DurationSeconds of every STS call the stand-in received, in order.
    let asked = || -> Vec<i64> {
        standin
            .received()
            .iter()
            .filter(|r| r["kind"] == "sts")
            .map(|r| r["duration"].as_i64().unwrap_or(0))
            .collect()
    };
    assert_eq!(asked(), vec![28800, 3600], "one retry with the safe value");
    assert!(!page.body.contains("DurationSeconds exceeds"));

    // Remembered: the next request asks for 3600 at once, and says why.
    let next = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(next.status, StatusCode::OK);
    assert_eq!(asked(), vec![28800, 3600, 3600]);
    assert!(next.body.contains("at most 1 hours"), "{}", next.body);
    let limit = app
        .store
        .role_session_limit(ADMIN_ROLE)
        .await
        .expect("read")
        .expect("remembered");
    assert_eq!((limit.max_duration, limit.refused_duration), (3600, 28800));

    // A day later the longer duration is asked again (the role may have been raised); still
    // refused here, so it is learned anew.
    app.execute("UPDATE role_session_limits SET learned_at = learned_at - 90000")
        .await;
    let again = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(asked(), vec![28800, 3600, 3600, 28800, 3600]);
    let relearned = app
        .store
        .role_session_limit(ADMIN_ROLE)
        .await
        .expect("read")
        .expect("remembered");
    assert!(
        relearned.learned_at >= limit.learned_at,
        "learned anew (it was set back a day)"
    );

    let admin = crate::helpers::spawn_client_for(&app);
    admin.login_as_admin().await;
    let regions = admin.get("/admin/regions").await;
    let limits = regions
        .body
        .split("id=\"session-limits\"")
        .nth(1)
        .expect("shown to admins");
    assert!(
        limits.contains(ADMIN_ROLE) && limits.contains("8 h"),
        "{limits}"
    );
    assert!(regions.body.contains("--max-session-duration"));
}

async fn the_console_link_goes_through_get_signin_token(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let standin = Peer::standin(dir.path(), 43200).await;
    let federation = format!("{}/federation", standin.url());
    let app = spawn_app_with(backend, |s| {
        s.sts.endpoints = crate::helpers::entries([format!("eu-west-1={}", standin.url())]);
        s.sts.federation = crate::helpers::entries([format!("eu-west-1={federation}")]);
    })
    .await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    let token = app.get("/").await.csrf_token();
    let res = app
        .post_form(
            "/console/federation",
            &[("csrf_token", &token), ("role", ADMIN_ROLE)],
        )
        .await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    let location = res.location().to_string();
    let url = reqwest::Url::parse(&location).expect("absolute URL");
    assert!(location.starts_with(&federation), "{location}");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["Action"], "login");
    assert_eq!(q["Issuer"], app.address);
    assert_eq!(
        q["Destination"], "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1",
        "the console of the Region that issued the credentials"
    );
    assert!(q["SigninToken"].starts_with("standin-signin-token-"));
    let calls = standin.received();
    let fed: Vec<&serde_json::Value> = calls.iter().filter(|r| r["kind"] == "federation").collect();
    assert_eq!(fed.len(), 1);
    assert_eq!(fed[0]["action"], "getSigninToken");
    assert_eq!(fed[0]["session_duration"], "3600");
    assert_eq!(
        fed[0]["session_fields"],
        serde_json::json!(["sessionId", "sessionKey", "sessionToken"])
    );
    let events = audit_of(&app, "federation.url_issued").await;
    assert_eq!(events.len(), 1);
    assert!(
        !events[0].details.contains("standin-signin-token"),
        "the URL is never recorded"
    );
    assert!(events[0].details.contains("eu-west-1"));
}

async fn the_credentials_page_is_only_for_signed_in_users_with_a_form_token(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let anonymous = app
        .post_form("/credentials", &[("csrf_token", "x"), ("role", ADMIN_ROLE)])
        .await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert!(anonymous.location().starts_with("/login"));
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    let forged = app
        .post_form(
            "/credentials",
            &[("csrf_token", "forged"), ("role", ADMIN_ROLE)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(hidden_field(&forged.body, "csrf_token").is_none());
}

/// An admin forgets a learned MaxSessionDuration on the Regions page (after raising it in
/// IAM): it is gone for the next sign-in, the change is audited, and forgetting a role with
/// nothing learned says so.
async fn an_admin_forgets_a_learned_session_limit(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    app.store
        .set_role_session_limit(ADMIN_ROLE, 3600, 43_200, fedbroker::clock::now())
        .await
        .expect("learned");
    app.login_as_admin().await;
    let page = app.get("/admin/regions").await;
    assert!(
        page.body.contains(&format!("data-role=\"{ADMIN_ROLE}\"")),
        "the learned limit is listed with its Forget button"
    );
    let token = page.csrf_token();
    let forget = |role: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            app.post_form(
                "/admin/regions",
                &[
                    ("csrf_token", token.as_str()),
                    ("action", "forget-limit"),
                    ("role", role),
                ],
            )
            .await
        }
    };
    let done = forget(ADMIN_ROLE).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(app
        .store
        .role_session_limit(ADMIN_ROLE)
        .await
        .expect("read")
        .is_none());
    assert!(!app
        .get("/admin/regions")
        .await
        .body
        .contains(&format!("data-role=\"{ADMIN_ROLE}\"")));
    let changes = audit_of(&app, "admin.change").await;
    assert!(
        changes
            .iter()
            .any(|e| e.details.contains("role_session_limit") && e.details.contains("forget")),
        "{changes:?}"
    );
    let again = forget(ADMIN_ROLE).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("Nothing was learned"), "{}", again.body);
}

on_both_backends!(
    an_admin_forgets_a_learned_session_limit,
    credentials_come_from_moto_through_the_sdk,
    sts_fails_over_to_the_next_region_and_remembers_the_dead_one,
    every_sts_endpoint_down_gives_a_clear_page_and_an_audit_event,
    a_too_long_duration_is_retried_once_remembered_and_explained,
    the_console_link_goes_through_get_signin_token,
    the_credentials_page_is_only_for_signed_in_users_with_a_form_token,
);

/// The assertion the broker sends to STS, as the STS stand-in received it, checked by
/// independent verifiers against the published metadata — signature (xmlsec1 and pysaml2),
/// audience, Destination and Recipient (the first sign-in URL, which trust policies list),
/// none of which moto checks. Each refusal is asserted by its reason.
async fn the_assertion_sent_to_sts_passes_an_independent_verifier(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let standin = Peer::standin(dir.path(), 43200).await;
    let app = app_with_sts(backend, vec![format!("us-east-2={}", standin.url())]).await;
    let published = app.get("/saml/metadata").await.body;
    let page = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let calls = standin.received();
    let sts: Vec<&serde_json::Value> = calls.iter().filter(|c| c["kind"] == "sts").collect();
    assert_eq!(sts.len(), 1, "{calls:?}");
    assert_eq!(sts[0]["role"], ADMIN_ROLE);
    let sent = sts[0]["assertion"]
        .as_str()
        .expect("SAMLAssertion recorded");

    let acs = "https://us-east-2.signin.aws.amazon.com/saml";
    let summary = crate::saml::verify_against_metadata(dir.path(), sent, acs, &published)
        .unwrap_or_else(|reason| panic!("the STS assertion is refused: {reason}"));
    assert_eq!(
        summary["audience"],
        serde_json::json!(["urn:amazon:webservices"])
    );
    assert_eq!(summary["recipient"], acs);
    assert_eq!(summary["destination"], acs);
    assert_eq!(summary["issuer"], format!("{}/saml/metadata", app.address));
    assert_eq!(
        summary["attributes"]["https://aws.amazon.com/SAML/Attributes/Role"],
        serde_json::json!([format!(
            "{ADMIN_ROLE},arn:aws:iam::123456789012:saml-provider/fedbroker"
        )])
    );
    assert_eq!(
        summary["attributes"]["https://aws.amazon.com/SAML/Attributes/RoleSessionName"],
        serde_json::json!(["alice"])
    );

    // Bound to its Recipient: another Region's sign-in URL refuses it, saying why.
    let refusal = crate::saml::verify_against_metadata(
        dir.path(),
        sent,
        "https://us-west-2.signin.aws.amazon.com/saml",
        &published,
    )
    .expect_err("refused at another sign-in URL");
    assert!(
        refusal.contains(&format!("Destination {acs} is not this endpoint")),
        "{refusal}"
    );
    // Tampered after signing (another account's role): both verifiers name the signature.
    let xml = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sent).expect("b64"),
    )
    .expect("utf8");
    let tampered = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        xml.replace("123456789012:role/Admin", "999999999999:role/Admin"),
    );
    let refusal = crate::saml::verify_against_metadata(dir.path(), &tampered, acs, &published)
        .expect_err("tampering is caught");
    assert!(
        refusal.starts_with("xmlsec1: no published certificate verifies")
            && refusal.contains("data and digest do not match"),
        "{refusal}"
    );
    let metadata = dir.path().join("published.xml");
    std::fs::write(&metadata, &published).expect("metadata");
    let (ok, out) = crate::saml::pysaml2_accepts(&tampered, acs, &metadata, true);
    assert!(
        !ok && out.contains("SignatureError: Failed to verify signature"),
        "{out}"
    );
}

on_both_backends!(the_assertion_sent_to_sts_passes_an_independent_verifier);
