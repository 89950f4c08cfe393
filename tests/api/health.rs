//! Health, readiness, metrics, security headers, request ids, and behaviour with the database down.

use reqwest::StatusCode;

use fedbroker::domain::secret::Secret;

use crate::helpers::{spawn_app, spawn_app_with, Backend};
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

const SCRAPE_TOKEN: &str = "a-scrape-token-of-some-length";

/// `/metrics` on the public listener with a bearer token: (status, body).
async fn scrape(app: &crate::helpers::TestApp, token: Option<&str>) -> (StatusCode, String) {
    let mut req = app.client.get(format!("{}/metrics", app.address));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.expect("metrics");
    let status = res.status();
    (status, res.text().await.expect("text"))
}

async fn metrics_count_requests_by_route_and_status(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics.token = Secret::new(SCRAPE_TOKEN.into());
    })
    .await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/page").await;
    let res = app
        .client
        .get(format!("{}/metrics", app.address))
        .bearer_auth(SCRAPE_TOKEN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/plain"));
    let body = &res.text().await.expect("text");
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

async fn metrics_are_not_open_on_the_public_listener(backend: Backend) {
    let closed = spawn_app(backend).await;
    let (status, body) = scrape(&closed, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("metrics.listen"),
        "says how to open it: {body}"
    );
    assert!(!body.contains("fedbroker_"), "{body}");

    let app = spawn_app_with(backend, |s| {
        s.metrics.token = Secret::new(SCRAPE_TOKEN.into());
    })
    .await;
    for wrong in [
        None,
        Some("wrong"),
        Some(&SCRAPE_TOKEN[..SCRAPE_TOKEN.len() - 1]),
    ] {
        let (status, body) = scrape(&app, wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert!(!body.contains("fedbroker_"), "{body}");
    }
    let (status, body) = scrape(&app, Some(SCRAPE_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("fedbroker_http_requests_total"), "{body}");
}

async fn metrics_on_their_own_listener_tell_sign_ins_regions_sts_and_key_age(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.metrics.listen = "127.0.0.1:0".into()).await;
    let private = app.metrics_address.clone().expect("a metrics listener");
    let (status, _) = scrape(&app, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not on the public listener");

    let scrape_private = || async {
        let res = reqwest::get(format!("{private}/metrics"))
            .await
            .expect("scrape");
        assert_eq!(res.status(), StatusCode::OK);
        res.text().await.expect("text")
    };
    let value = |body: &str, prefix: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let failures = "fedbroker_events_total{type=\"signin\",outcome=\"failure\"}";
    let successes = "fedbroker_events_total{type=\"signin\",outcome=\"success\"}";
    let checks = "fedbroker_password_checks_total";
    let before = scrape_private().await;

    // One failed sign-in and one successful one: each counted once.
    app.login("admin", "not-the-password").await;
    app.login_as_admin().await;

    let body = scrape_private().await;
    for (name, grew) in [(failures, 1.0), (successes, 1.0)] {
        assert_eq!(
            value(&body, name) - value(&before, name),
            grew,
            "{name}:\n{body}"
        );
    }
    // Two sign-ins, and the admin's forced password change checks the current one too.
    assert!(
        value(&body, checks) - value(&before, checks) >= 2.0,
        "{body}"
    );
    let value = |prefix: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix}:\n{body}"))
    };
    let age = value("fedbroker_signing_key_age_seconds");
    assert!(
        (0.0..600.0).contains(&age),
        "a key made at this start: {age}"
    );
    for region in app.settings.regions.acs.iter() {
        let line = format!(
            "fedbroker_signin_region_serving{{region=\"{}\"}}",
            region.region
        );
        assert!(body.contains(&line), "{line}:\n{body}");
    }
    for endpoint in app.settings.sts.endpoints.iter() {
        let line = format!(
            "fedbroker_sts_endpoint_up{{region=\"{}\"}} 1",
            endpoint.region
        );
        assert!(body.contains(&line), "{line}:\n{body}");
    }
    let other = reqwest::get(format!("{private}/login")).await.expect("get");
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "only /metrics there");
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
    metrics_are_not_open_on_the_public_listener,
    metrics_on_their_own_listener_tell_sign_ins_regions_sts_and_key_age,
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
