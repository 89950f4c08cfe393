//! Health, readiness, metrics, security headers, request ids, and behaviour with the database down.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;

async fn health_and_readiness_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
    assert_eq!(json["status"], "ready");
    let engine = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(json["database"]["engine"], engine);
}

async fn readiness_fails_and_pages_explain_when_the_database_is_down(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.login("alice", "alice-password-1").await;
    app.store.close().await;

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.body.contains("\"down\""), "{}", ready.body);
    assert_eq!(
        app.get("/healthz").await.status,
        StatusCode::OK,
        "process still up"
    );

    let portal = app.get("/").await;
    assert_eq!(portal.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        portal.body.contains("cannot reach its database"),
        "{}",
        portal.body
    );
    let id = portal.headers["x-request-id"].to_str().expect("id");
    assert!(portal.body.contains(id), "the page quotes the request id");
    for leak in ["sqlx", "PoolClosed", "panicked", "src/"] {
        assert!(
            !portal.body.contains(leak),
            "internal detail {leak:?} leaked: {}",
            portal.body
        );
    }
    // Sign-in fails the same clear way instead of claiming a wrong password.
    let form = app.get("/login").await;
    assert_eq!(form.status, StatusCode::OK);
    let res = app
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", "alice-password-1"),
                ("csrf_token", &form.csrf_token()),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
}

async fn metrics_count_requests_by_route_and_status(backend: Backend) {
    let app = spawn_app(backend).await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/page").await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.headers["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/plain"));
    let body = &metrics.body;
    assert!(
        body.contains(
            "fedbroker_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ),
        "{body}"
    );
    assert!(
        body.contains("route=\"unmatched\",status=\"404\"} 1"),
        "{body}"
    );
    assert!(body.contains("fedbroker_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"+Inf\"} 2"), "{body}");
    assert!(
        !body.contains("/no/such/page"),
        "raw paths never become labels"
    );
}

async fn every_response_carries_security_headers_and_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for path in ["/login", "/healthz", "/nope", "/static/style.css"] {
        let res = app.get(path).await;
        let csp = res.headers["content-security-policy"]
            .to_str()
            .expect("csp");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(res.headers["x-frame-options"], "DENY");
        assert_eq!(res.headers["x-content-type-options"], "nosniff");
        assert!(
            res.headers.get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP"
        );
        ids.push(
            res.headers["x-request-id"]
                .to_str()
                .expect("request id")
                .to_string(),
        );
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "request ids are unique");
    assert_eq!(app.get("/login").await.headers["cache-control"], "no-store");
    assert!(app.get("/static/style.css").await.headers["cache-control"]
        .to_str()
        .unwrap_or("")
        .contains("max-age"));
}

async fn pages_have_no_inline_script(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &["g"]).await;
    let login = app.get("/login").await;
    app.login("alice", "alice-password-1").await;
    let portal = app.get("/").await;
    for page in [login.body, portal.body] {
        for tag in page.split("<script").skip(1) {
            assert!(
                tag.trim_start().starts_with("src="),
                "inline script found: <script{tag}"
            );
        }
        assert!(!page.contains("onclick="), "inline handler found");
    }
}

async fn unknown_pages_get_a_404_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/does-not-exist").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.body.contains("Page not found"));
    assert_eq!(
        app.get("/static/../Cargo.toml").await.status,
        StatusCode::NOT_FOUND
    );
}

on_both_backends!(
    health_and_readiness_answer,
    readiness_fails_and_pages_explain_when_the_database_is_down,
    metrics_count_requests_by_route_and_status,
    every_response_carries_security_headers_and_a_request_id,
    pages_have_no_inline_script,
    unknown_pages_get_a_404_page,
);

#[tokio::test]
async fn an_instance_that_cannot_decrypt_the_signing_key_is_not_ready() {
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    let mut settings = app.settings.clone();
    settings.saml.key_encryption_key = fedbroker::domain::secret::Secret::new(
        "d3Jvbmcta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU=".into(),
    );
    let second = fedbroker::startup::Application::build(
        settings,
        fedbroker::startup::BuildOptions {
            bootstrap_admin_password: None,
        },
    )
    .await
    .expect("builds");
    let url = format!("http://localhost:{}/readyz", second.port());
    tokio::spawn(second.run_until_stopped());
    let res = reqwest::get(&url).await.expect("GET /readyz");
    assert_eq!(res.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let body = res.text().await.expect("body");
    assert!(
        body.contains("signing_key") && body.contains("key-encryption key"),
        "{body}"
    );
    assert_eq!(app.get("/readyz").await.status, reqwest::StatusCode::OK);
}
