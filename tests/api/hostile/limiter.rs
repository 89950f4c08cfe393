//! Hostile inputs: sign-in bursts, forged client addresses, lock-outs, OIDC start floods.
//!
//! | attack | expected refusal |
//! |---|---|
//! | 100 concurrent wrong passwords for one user from one address | exactly the per-(user, address) budget of password checks; the rest 429 |
//! | 120 concurrent wrong passwords for distinct users from one address | exactly the per-address budget of checks; the rest 429 |
//! | the same burst split over two instances sharing the database | still exactly the budget |
//! | failing on purpose to lock out `admin` | the right password from another address still signs in |
//! | a client that failed, while the user is under attack | waits `user_backoff_secs`, told so in Retry-After |
//! | `X-Forwarded-For` from a client that is not a trusted proxy | ignored: the peer address is recorded |
//! | `X-Forwarded-For: not-an-ip <script>` through a trusted proxy | the proxy's address is recorded |
//! | 6 OIDC sign-in starts when 3 are allowed per address | 3 pending rows, the rest 429 |
//! | memory exhaustion by argon2 bursts, log forging by a newline in the username | see `process_limits` |

use std::sync::Arc;

use fedbroker::startup::{Application, BuildOptions};
use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, Backend, TestApp, ADMIN_PASSWORD};
use crate::on_both_backends;

/// A broker behind a trusted proxy on loopback, so each request can say which client it is for.
async fn behind_proxy(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().expect("cidr")];
    })
    .await
}

/// The login form's CSRF cookie and token, reusable for many posts (double submit).
async fn login_form(app: &TestApp) -> (String, String) {
    let page = app.get("/login").await;
    let token = page.csrf_token();
    let cookie = format!(
        "__Host-fedbroker-login-csrf={}",
        app.cookie("__Host-fedbroker-login-csrf")
            .expect("login CSRF cookie")
    );
    (cookie, token)
}

/// Posts one sign-in as the client `addr` (through the trusted proxy), returns the response.
async fn post_as(
    client: &reqwest::Client,
    base: &str,
    form: &(String, String),
    addr: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/login"))
        .header("cookie", &form.0)
        .header("x-forwarded-for", addr)
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf_token", form.1.as_str()),
        ])
        .send()
        .await
        .expect("sign-in answers")
}

/// Fires all sign-ins at once and counts the answers by status.
async fn burst(
    targets: Vec<(String, String)>,
    form: &(String, String),
    bases: &[String],
    password: &str,
) -> std::collections::BTreeMap<u16, usize> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let form = Arc::new(form.clone());
    let mut tasks = Vec::new();
    for (i, (addr, user)) in targets.into_iter().enumerate() {
        let client = client.clone();
        let form = form.clone();
        let base = bases[i % bases.len()].clone();
        let password = password.to_string();
        tasks.push(tokio::spawn(async move {
            post_as(&client, &base, &form, &addr, &user, &password)
                .await
                .status()
                .as_u16()
        }));
    }
    let mut counts = std::collections::BTreeMap::new();
    for t in tasks {
        *counts.entry(t.await.expect("task")).or_insert(0) += 1;
    }
    counts
}

/// Failed sign-ins recorded for a reason (each is one password that was really checked).
async fn checked(app: &TestApp, reason: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM audit_events WHERE event_type = 'signin' AND details LIKE '%{reason}%'"
    ))
    .await
}

async fn a_burst_against_one_user_gets_no_more_password_checks_than_the_budget(backend: Backend) {
    let app = behind_proxy(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    let form = login_form(&app).await;
    let targets = (0..100)
        .map(|_| ("203.0.113.7".to_string(), "alice".to_string()))
        .collect();
    let counts = burst(
        targets,
        &form,
        std::slice::from_ref(&app.address),
        "wrong-password-x",
    )
    .await;
    assert_budget_held(&app, &counts, 100, 5).await;
}

/// Every answer is a checked password (401), a refusal by the limit (429) or a fast "busy"
/// (503: every core checking passwords, or the database queue full); the checks number at least
/// one and never more than `budget`.
async fn assert_budget_held(
    app: &TestApp,
    counts: &std::collections::BTreeMap<u16, usize>,
    total: usize,
    budget: usize,
) {
    assert!(
        counts.keys().all(|s| [401, 429, 503].contains(s)),
        "{counts:?}"
    );
    assert_eq!(counts.values().sum::<usize>(), total, "{counts:?}");
    let checks = counts.get(&401).copied().unwrap_or(0);
    assert!((1..=budget).contains(&checks), "{counts:?}");
    let audited = checked(app, "wrong username or password").await;
    assert_eq!(audited, i64::try_from(checks).expect("small"), "{counts:?}");
}

async fn a_burst_over_many_users_from_one_address_stops_at_the_address_budget(backend: Backend) {
    let app = behind_proxy(backend).await;
    let form = login_form(&app).await;
    let targets = (0..120)
        .map(|i| ("203.0.113.8".to_string(), format!("user{i}")))
        .collect();
    let counts = burst(
        targets,
        &form,
        std::slice::from_ref(&app.address),
        "wrong-password-x",
    )
    .await;
    assert_budget_held(&app, &counts, 120, 20).await;
}

async fn a_burst_split_over_two_instances_still_gets_only_the_budget(backend: Backend) {
    let app = behind_proxy(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    let second = Application::build(
        app.settings.clone(),
        BuildOptions {
            bootstrap_admin_password: Some(ADMIN_PASSWORD.to_string()),
        },
    )
    .await
    .expect("second instance builds on the same database");
    let second_url = format!("http://localhost:{}", second.port());
    tokio::spawn(second.run_until_stopped());
    let form = login_form(&app).await;
    let targets = (0..60)
        .map(|_| ("203.0.113.9".to_string(), "alice".to_string()))
        .collect();
    let counts = burst(
        targets,
        &form,
        &[app.address.clone(), second_url],
        "wrong-password-x",
    )
    .await;
    assert_budget_held(&app, &counts, 60, 5).await;
}

async fn nobody_can_lock_the_admin_out_by_failing_on_purpose(backend: Backend) {
    let app = behind_proxy(backend).await;
    let form = login_form(&app).await;
    let client = &app.client;
    for _ in 0..5 {
        let res = post_as(
            client,
            &app.address,
            &form,
            "198.51.100.1",
            "admin",
            "wrong-password-x",
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // The attacker's address is refused, even with the right password...
    let res = post_as(
        client,
        &app.address,
        &form,
        "198.51.100.1",
        "admin",
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // ...while the admin, from an address that never failed, signs in at once.
    let res = post_as(
        client,
        &app.address,
        &form,
        "198.51.100.2",
        "admin",
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/account/password");
}

async fn a_client_that_failed_backs_off_while_the_user_is_under_attack(backend: Backend) {
    let app = behind_proxy(backend).await;
    let form = login_form(&app).await;
    let client = &app.client;
    for i in 0..5 {
        let addr = format!("198.51.100.{}", 10 + i);
        let res = post_as(
            client,
            &app.address,
            &form,
            &addr,
            "admin",
            "wrong-password-x",
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Address .10 failed once; the user now has 5 failures from anywhere: it must wait.
    let res = post_as(
        client,
        &app.address,
        &form,
        "198.51.100.10",
        "admin",
        "wrong-password-x",
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = res.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&retry), "retry-after {retry}");
    let body = res.text().await.expect("body");
    assert!(body.contains("second"), "{body}");
    // A fresh address is not delayed.
    let res = post_as(
        client,
        &app.address,
        &form,
        "198.51.100.99",
        "admin",
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

/// The address recorded for the last sign-in event.
async fn last_signin_addr(app: &TestApp) -> String {
    let events = app
        .store
        .audit_events(&Default::default(), 1)
        .await
        .expect("audit events");
    events.first().expect("an event").source_addr.clone()
}

async fn forwarded_for_is_believed_only_from_trusted_proxies_and_only_as_an_ip(backend: Backend) {
    let direct = spawn_app_with(backend, |_| {}).await;
    let form = login_form(&direct).await;
    post_as(
        &direct.client,
        &direct.address,
        &form,
        "198.51.100.77",
        "bob",
        "wrong-password-x",
    )
    .await;
    assert_eq!(last_signin_addr(&direct).await, "127.0.0.1");

    let app = behind_proxy(backend).await;
    let form = login_form(&app).await;
    post_as(
        &app.client,
        &app.address,
        &form,
        "not-an-ip <script>",
        "bob",
        "wrong-password-x",
    )
    .await;
    assert_eq!(last_signin_addr(&app).await, "127.0.0.1");
    // The client wrote 6.6.6.6 itself; the proxy appended what it saw.
    post_as(
        &app.client,
        &app.address,
        &form,
        "6.6.6.6, 203.0.113.5",
        "bob",
        "wrong-password-x",
    )
    .await;
    assert_eq!(last_signin_addr(&app).await, "203.0.113.5");
}

async fn oidc_sign_in_starts_are_limited_per_address(backend: Backend) {
    let port = crate::sts::free_port();
    let app = crate::oidc::app_for_with(backend, port, |s| {
        s.login.max_oidc_starts_per_address = 3;
    })
    .await;
    let _op = crate::oidc::Op::start(port, &app.address, 600, "id-token", "127.0.0.1");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.get("/login/oidc/op").await.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::SEE_OTHER,
            StatusCode::SEE_OTHER,
            StatusCode::SEE_OTHER,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM oidc_logins").await, 3);
}

on_both_backends!(
    a_burst_against_one_user_gets_no_more_password_checks_than_the_budget,
    a_burst_over_many_users_from_one_address_stops_at_the_address_budget,
    a_burst_split_over_two_instances_still_gets_only_the_budget,
    nobody_can_lock_the_admin_out_by_failing_on_purpose,
    a_client_that_failed_backs_off_while_the_user_is_under_attack,
    forwarded_for_is_believed_only_from_trusted_proxies_and_only_as_an_ip,
    oidc_sign_in_starts_are_limited_per_address,
);
