//! The command-line client's sign-in, spoken by hand: consent, code, PKCE, refresh rotation,
//! and every hostile variant refused. (The client binary itself: tests/api/cli_client.rs.)

use base64::Engine;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::on_both_backends;

const REDIRECT: &str = "http://127.0.0.1:5555/callback";
const VERIFIER: &str = "a-pkce-verifier-of-at-least-forty-three-characters-0123";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_query(redirect_uri: &str, state: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", "fedbroker-cli".into()),
        ("redirect_uri", redirect_uri.into()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".into()),
        ("state", state.into()),
        ("device", "build-laptop".into()),
        ("lifetime", "7200".into()),
    ]
}

/// Approves on the consent page as the signed-in browser; returns where it was sent.
async fn approve(app: &TestApp, redirect_uri: &str, decision: &str) -> url::Url {
    let query = serde_urlencoded::to_string(authorize_query(redirect_uri, "st4te")).expect("q");
    let page = app.get(&format!("/oauth/authorize?{query}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("build-laptop"), "names the device");
    assert!(page.body.contains("2 hours"), "names the lifetime");
    let mut fields = authorize_query(redirect_uri, "st4te");
    fields.push(("decision", decision.into()));
    fields.push(("csrf_token", page.csrf_token()));
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = app.post_form("/oauth/authorize", &form).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    url::Url::parse(res.headers["location"].to_str().expect("location")).expect("a URL")
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `POST /oauth/token` with form fields: (status, JSON).
async fn token(app: &TestApp, fields: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/oauth/token", app.address))
        .form(fields)
        .send()
        .await
        .expect("token request");
    let status = res.status();
    (status, res.json().await.expect("JSON"))
}

async fn redeem(
    app: &TestApp,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> (StatusCode, serde_json::Value) {
    token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "fedbroker-cli"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", redirect_uri),
        ],
    )
    .await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> (StatusCode, serde_json::Value) {
    token(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "fedbroker-cli"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

async fn roles_with(app: &TestApp, access: &str) -> StatusCode {
    crate::api_v1::call(
        app,
        reqwest::Method::GET,
        "/api/v1/roles",
        Some(access),
        None,
    )
    .await
    .0
}

async fn signed_in_admin(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.login_as_admin().await;
    app
}

async fn a_code_becomes_tokens_once_and_refresh_tokens_rotate(backend: Backend) {
    let app = signed_in_admin(backend).await;
    let back = approve(&app, REDIRECT, "approve").await;
    assert_eq!(back.as_str().split('?').next(), Some(REDIRECT));
    assert_eq!(param(&back, "state").as_deref(), Some("st4te"));
    let code = param(&back, "code").expect("a code");

    let (status, tokens) = redeem(&app, &code, VERIFIER, REDIRECT).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"]
        .as_i64()
        .is_some_and(|s| s > 0 && s <= 3600));
    let access = tokens["access_token"].as_str().expect("access").to_string();
    let first_refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    assert_eq!(roles_with(&app, &access).await, StatusCode::OK);

    // Used once: the same code again is refused.
    let (status, again) = redeem(&app, &code, VERIFIER, REDIRECT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["error"], "invalid_grant");

    // Rotation: the new refresh token works, and so does its access token.
    let (status, second) = refresh(&app, &first_refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_refresh = second["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    assert_ne!(second_refresh, first_refresh);
    let second_access = second["access_token"].as_str().expect("access").to_string();
    assert_eq!(roles_with(&app, &second_access).await, StatusCode::OK);

    // The first one again right away: an answer the client lost (a proxy timeout); it is
    // honoured once more within the grace period.
    let (status, third) = refresh(&app, &first_refresh).await;
    assert_eq!(status, StatusCode::OK, "within the grace period: {third}");
    let third_refresh = third["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();

    // Later, the first one again: a copy exists somewhere, so the whole sign-in ends.
    app.execute("UPDATE cli_grants SET last_used_at = last_used_at - 60")
        .await;
    let (status, replayed) = refresh(&app, &first_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(replayed["error_description"]
        .as_str()
        .is_some_and(|d| d.contains("revoked") && d.contains("fedbroker-cli login")));
    let (status, _) = refresh(&app, &third_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the grant is revoked");
    let (status, _) = refresh(&app, &second_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        roles_with(&app, &second_access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE details LIKE '%cli_refresh_replayed%'")
            .await,
        1
    );
}

async fn a_wrong_verifier_or_address_or_client_gets_no_tokens(backend: Backend) {
    let app = signed_in_admin(backend).await;
    for (verifier, redirect, why) in [
        (
            "another-verifier-of-at-least-forty-three-characters-999",
            REDIRECT,
            "verifier",
        ),
        (VERIFIER, "http://127.0.0.1:6666/callback", "return address"),
    ] {
        let code = param(&approve(&app, REDIRECT, "approve").await, "code").expect("code");
        let (status, body) = redeem(&app, &code, verifier, redirect).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["error"], "invalid_grant", "{why}");
        // A failed redemption burns the code.
        let (status, _) = redeem(&app, &code, VERIFIER, REDIRECT).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: the code is gone");
    }
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "other"),
            ("refresh_token", "x"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    let (status, body) = token(
        &app,
        &[("grant_type", "password"), ("client_id", "fedbroker-cli")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM cli_grants").await, 0);
}

async fn hostile_authorization_requests_are_refused_without_a_redirect(backend: Backend) {
    let app = signed_in_admin(backend).await;
    for (redirect, field, value) in [
        ("https://evil.example/callback", "", ""),
        ("http://localhost:5555/callback", "", ""),
        ("http://127.0.0.1:5555/elsewhere", "", ""),
        (REDIRECT, "code_challenge_method", "plain"),
        (REDIRECT, "client_id", "someone-else"),
        (REDIRECT, "state", ""),
    ] {
        let mut query = authorize_query(redirect, "st4te");
        if !field.is_empty() {
            query.retain(|(k, _)| *k != field);
            query.push((field, value.into()));
        }
        let q = serde_urlencoded::to_string(&query).expect("q");
        let res = app.get(&format!("/oauth/authorize?{q}")).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{redirect} {field}={value}"
        );
        assert!(res.headers.get("location").is_none(), "never sent anywhere");
        assert!(!res.body.contains("cli-approve"), "no consent offered");
    }
    // Denied: the client is told, with its state, and no code exists.
    let back = approve(&app, REDIRECT, "deny").await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back, "code"), None);
    assert_eq!(app.count("SELECT COUNT(*) FROM oauth_codes").await, 0);

    // Signed out: sent to sign in first, and back here after.
    let fresh = crate::helpers::spawn_client_for(&app);
    let q = serde_urlencoded::to_string(authorize_query(REDIRECT, "st4te")).expect("q");
    let res = fresh.get(&format!("/oauth/authorize?{q}")).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let to = res.headers["location"].to_str().expect("location");
    assert!(to.starts_with("/login?next=%2Foauth%2Fauthorize"), "{to}");
}

async fn a_password_change_or_a_revocation_ends_command_line_sign_ins(backend: Backend) {
    let app = signed_in_admin(backend).await;
    let sign_in = || async {
        let code = param(&approve(&app, REDIRECT, "approve").await, "code").expect("code");
        let (status, tokens) = redeem(&app, &code, VERIFIER, REDIRECT).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    };
    // Revoked on the tokens page.
    let tokens = sign_in().await;
    let page = app.get("/account/tokens").await;
    assert!(page.body.contains("build-laptop"), "{}", page.body);
    assert_eq!(page.body.matches("id=\"cli-sign-ins\"").count(), 1);
    let title = page.body.split("</title>").next().unwrap_or_default();
    assert!(title.contains("<title>API tokens"), "{title}");
    assert!(!title.contains("<section"), "{title}");
    let grant = app.count("SELECT MAX(id) FROM cli_grants").await;
    let res = app
        .post_form(
            &format!("/account/cli-sign-ins/{grant}/revoke"),
            &[("csrf_token", &page.csrf_token())],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(roles_with(&app, access).await, StatusCode::UNAUTHORIZED);
    let (status, _) = refresh(&app, tokens["refresh_token"].as_str().expect("r")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A password change ends them too, with the other sessions.
    let tokens = sign_in().await;
    let page = app.get("/account/password").await;
    let res = app
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &page.csrf_token()),
                ("current_password", "a-new-admin-password"),
                ("new_password", "a-third-admin-password"),
                ("confirm_password", "a-third-admin-password"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let (status, _) = refresh(&app, tokens["refresh_token"].as_str().expect("r")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "ended by the password change"
    );
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(roles_with(&app, access).await, StatusCode::UNAUTHORIZED);

    // A code approved just before a sign-out everywhere cannot start a sign-in after it.
    let code = param(&approve(&app, REDIRECT, "approve").await, "code").expect("code");
    let change = fedbroker::store::AccountChange::by("cli:test", fedbroker::clock::now());
    app.store
        .sign_out_everywhere("admin", &change)
        .await
        .expect("signed out");
    let (status, _) = redeem(&app, &code, VERIFIER, REDIRECT).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the code died with the sessions"
    );
    app.login("admin", "a-third-admin-password").await;

    // Ended with the person's sessions when the account is disabled (as `user disable` does),
    // in the same transaction, and recorded.
    let tokens = sign_in().await;
    let change = fedbroker::store::AccountChange::by("cli:test", fedbroker::clock::now());
    let revoked = app
        .store
        .set_disabled("admin", true, &change)
        .await
        .expect("disabled");
    assert!(revoked.tokens >= 1, "{revoked:?}");
    let live = app
        .count("SELECT COUNT(*) FROM cli_grants WHERE revoked_at IS NULL")
        .await;
    assert_eq!(live, 0, "every command-line sign-in ended");
    app.execute("UPDATE users SET disabled = FALSE").await;
    let (status, _) = refresh(&app, tokens["refresh_token"].as_str().expect("r")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "re-enabling does not revive it"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_events WHERE details LIKE '%\"cause\":\"disabled\"%\"cli_sign_ins_revoked\":1%'"
        )
        .await,
        1
    );
}

on_both_backends!(
    a_code_becomes_tokens_once_and_refresh_tokens_rotate,
    a_wrong_verifier_or_address_or_client_gets_no_tokens,
    hostile_authorization_requests_are_refused_without_a_redirect,
    a_password_change_or_a_revocation_ends_command_line_sign_ins,
);
