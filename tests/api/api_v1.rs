//! The JSON API and the API tokens that authenticate scripts.

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;
use crate::sts::{app_with_sts, Peer, ADMIN_ROLE};

/// Creates a token on /account/tokens and returns its secret.
async fn create_token(
    app: &TestApp,
    name: &str,
    days: &str,
    scopes: &[&str],
) -> crate::helpers::Page {
    let token = app.get("/account/tokens").await.csrf_token();
    let mut form = vec![
        ("csrf_token", token.as_str()),
        ("name", name),
        ("days", days),
    ];
    for s in scopes {
        form.push(("scope", s));
    }
    app.post_form("/account/tokens", &form).await
}

fn secret_of(page: &crate::helpers::Page) -> String {
    page.body
        .split("id=\"token-secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the new token is shown")
        .to_string()
}

/// Calls the JSON API, with a bearer token when given; returns the status and the JSON body.
pub(crate) async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = app.client.request(method, format!("{}{path}", app.address));
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let text = res.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body, got {text}"));
    (status, json)
}

const ROLE_BODY: &str = r#"{"role": "arn:aws:iam::123456789012:role/Admin"}"#;

async fn tokens_authenticate_scripts_within_their_scopes(backend: Backend) {
    let moto = Peer::moto().await;
    let app = app_with_sts(backend, vec![format!("us-east-2={}", moto.url())]).await;
    app.execute(
        "INSERT INTO account_aliases (account_id, name, environment, colour, version, updated_at, updated_by) \
         VALUES ('123456789012', 'Payments', 'prod', NULL, 1, 0, 'test')",
    )
    .await;

    let created = create_token(&app, "laptop", "30", &["roles", "credentials"]).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let secret = secret_of(&created);
    assert!(secret.starts_with("fbt_") && secret.len() > 40, "{secret}");
    let listing = app.get("/account/tokens").await;
    assert!(
        !listing.body.contains(&secret),
        "the secret is shown once only"
    );
    assert!(listing.body.contains("laptop") && listing.body.contains(">active<"));

    let (status, roles) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/roles",
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{roles}");
    assert_eq!(roles["roles"][0]["role_arn"], ADMIN_ROLE);
    assert_eq!(roles["roles"][0]["account_name"], "Payments");
    assert_eq!(roles["roles"][0]["environment"], "prod");

    let (status, creds) = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/credentials",
        Some(&secret),
        Some(ROLE_BODY),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{creds}");
    assert_eq!(creds["Version"], 1);
    assert!(creds["AccessKeyId"]
        .as_str()
        .unwrap_or("")
        .starts_with("ASIA"));
    assert!(creds["SessionToken"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));

    let (status, err) = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/console-url",
        Some(&secret),
        Some(ROLE_BODY),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["error"], "missing_scope");
    assert!(err["message"].as_str().unwrap_or("").contains("`console`"));

    let (status, err) = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/credentials",
        Some(&secret),
        Some(r#"{"role": "arn:aws:iam::999999999999:role/Admin"}"#),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("role_not_granted"))
    );
    let (status, err) = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/credentials",
        Some(&secret),
        Some("{"),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_json"))
    );

    // Revoked: 401 with a body that says so.
    let id = listing
        .body
        .split("id=\"token-row-")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("token row id")
        .to_string();
    let csrf = listing.csrf_token();
    let revoked = app
        .post_form(
            &format!("/account/tokens/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let (status, err) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/roles",
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"], "revoked_token");
    assert!(err["message"].as_str().unwrap_or("").contains("revoked"));

    let tokens = fedbroker::store::AuditFilter {
        event_type: Some("api_token".into()),
        ..Default::default()
    };
    let events = app.store.audit_events(&tokens, 10).await.expect("events");
    assert_eq!(events.len(), 2, "created and revoked");
    for e in &events {
        assert!(!e.details.contains(&secret));
    }
}

async fn expired_unknown_and_malformed_tokens_are_refused(backend: Backend) {
    let app = app_with_sts(backend, vec!["us-east-2".into()]).await;
    let secret = secret_of(&create_token(&app, "ci", "1", &["roles"]).await);
    app.execute("UPDATE api_tokens SET expires_at = 1").await;
    let (status, err) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/roles",
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("expired_token"))
    );
    let (status, err) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/roles",
        Some("fbt_notAToken0000000000000000000000000000000"),
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unknown_token"))
    );
    let (status, err) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/roles",
        Some("abc"),
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("malformed_token"))
    );
    let (status, err) = call(&app, reqwest::Method::GET, "/api/v1/roles", None, None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );

    // A disabled account's tokens stop working at once.
    let live = secret_of(&create_token(&app, "live", "1", &["roles"]).await);
    app.execute("UPDATE users SET disabled = TRUE WHERE username = 'alice'")
        .await;
    let (status, err) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/roles",
        Some(&live),
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("account_disabled"))
    );
}

async fn bad_token_requests_are_explained_and_nothing_is_created(backend: Backend) {
    let app = app_with_sts(backend, vec!["us-east-2".into()]).await;
    for (days, scopes, expected) in [
        ("400", vec!["roles"], "1 to 90 days"),
        ("30", vec![], "at least one scope"),
        ("30", vec!["admin"], "at least one scope"),
    ] {
        let page = create_token(&app, "x", days, &scopes).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        let error = page
            .body
            .split("id=\"token-error\">")
            .nth(1)
            .expect("error shown");
        assert!(error.contains(expected), "{error}");
    }
    let page = app.get("/account/tokens").await;
    assert!(page.body.contains("None yet."));
}

async fn the_browser_session_works_with_its_csrf_header(backend: Backend) {
    let moto = Peer::moto().await;
    let app = app_with_sts(backend, vec![format!("us-east-2={}", moto.url())]).await;
    let cookie = format!(
        "__Host-fedbroker-session={}",
        app.cookie("__Host-fedbroker-session").expect("signed in")
    );
    let get = app
        .client
        .get(format!("{}/api/v1/roles", app.address))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(get.status(), StatusCode::OK);
    let post = |csrf: Option<String>| {
        let mut req = app
            .client
            .post(format!("{}/api/v1/credentials", app.address))
            .header("cookie", &cookie)
            .header("content-type", "application/json")
            .body(ROLE_BODY);
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    let refused = post(None).await.expect("POST");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "csrf");
    let csrf = app.get("/").await.csrf_token();
    let ok = post(Some(csrf)).await.expect("POST");
    assert_eq!(ok.status(), StatusCode::OK);
}

on_both_backends!(
    tokens_authenticate_scripts_within_their_scopes,
    expired_unknown_and_malformed_tokens_are_refused,
    bad_token_requests_are_explained_and_nothing_is_created,
    the_browser_session_works_with_its_csrf_header,
);
