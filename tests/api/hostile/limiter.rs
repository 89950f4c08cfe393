//! Hostile inputs: sign-in bursts, forged client addresses, lock-outs, OIDC start floods.
//! The table of attacks and refusals is in `mod.rs`.

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
    let port = crate::peers::free_port();
    let app = crate::oidc::app_for_with(backend, port, |s| {
        s.login.max_oidc_starts_per_address = 3;
    })
    .await;
    let _op = crate::oidc::Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
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

/// The broker binary, serving on a free port behind a trusted proxy on loopback, with its
/// output lines; killed by the caller.
fn serve_binary(
    dir: &std::path::Path,
    format: &str,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    Vec<String>,
    String,
) {
    let served = crate::process::start_serving(
        crate::process::fedbroker(dir)
            .arg("serve")
            .env("FEDBROKER__SERVER__WORKERS", "2")
            .env("FEDBROKER__SERVER__TRUSTED_PROXIES", r#"["127.0.0.1"]"#)
            .env("FEDBROKER__LOG__FORMAT", format)
            .env("FEDBROKER_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("FEDBROKER__METRICS__TOKEN", METRICS_TOKEN),
    );
    (served.child, served.rx, served.seen, served.url)
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

const METRICS_TOKEN: &str = "limiter-test-scrape-token";

/// `fedbroker_password_checks_total` from `/metrics`.
async fn password_checks(client: &reqwest::Client, url: &str) -> u64 {
    let text = client
        .get(format!("{url}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("fedbroker_password_checks_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the password-check counter is exported")
}

/// 120 concurrent sign-ins from 120 addresses for 120 usernames (no account needed): each is
/// within every limit, so only the bound on concurrent argon2 work keeps memory in check.
/// Then 100 at one user from one address: no more password checks than the budget.
#[test]
fn a_sign_in_burst_neither_exhausts_memory_nor_exceeds_the_password_check_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, _rx, _seen, url) = serve_binary(dir.path(), "text");
    let pid = child.id();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("client");
        // Warm up: one sign-in, so idle memory includes what a served sign-in needs.
        let res = crate::process::post_login(&client, &url, "nobody", "wrong-password-x").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let idle = rss_mib(pid);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut peak = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = peak.max(rss_mib(pid));
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                peak
            })
        };
        let form = crate::process::login_form(&client, &url).await;
        let before = password_checks(&client, &url).await;
        let spread = (0..120)
            .map(|i| {
                (
                    format!("10.9.{}.{}", i / 200, i % 200 + 1),
                    format!("user{i}"),
                )
            })
            .collect();
        let counts = burst(
            spread,
            &form,
            std::slice::from_ref(&url),
            "wrong-password-x",
        )
        .await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = sampler.join().expect("sampler");
        println!(
            "resident memory: idle {idle} MiB, peak {peak} MiB under the burst; answers {counts:?}"
        );
        assert!(counts.keys().all(|s| [401, 503].contains(s)), "{counts:?}");
        assert!(
            counts.contains_key(&401),
            "some passwords were checked: {counts:?}"
        );
        assert!(
            peak.saturating_sub(idle) < 100,
            "memory grew from {idle} MiB to {peak} MiB under the burst ({counts:?})"
        );
        let after_spread = password_checks(&client, &url).await;
        assert_eq!(
            after_spread - before,
            u64::try_from(counts.get(&401).copied().unwrap_or(0)).expect("small"),
            "every check answered 401, every other request was refused before argon2"
        );

        let one_user = (0..100)
            .map(|_| ("10.8.0.1".to_string(), "admin".to_string()))
            .collect();
        let counts = burst(
            one_user,
            &form,
            std::slice::from_ref(&url),
            "wrong-password-x",
        )
        .await;
        let checks = password_checks(&client, &url).await - after_spread;
        assert!((1..=5).contains(&checks), "{checks} checks; {counts:?}");
        assert!(counts.get(&429).copied().unwrap_or(0) >= 90, "{counts:?}");
    });
    let _ = child.kill();
    let _ = child.wait();
}

/// A username with a newline must not forge a log line; in JSON every line stays one object.
#[test]
fn a_newline_in_a_typed_username_cannot_forge_a_log_line() {
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut child, rx, mut seen, url) = serve_binary(dir.path(), format);
        let forged = "2026-11-23T00:00:00.000000Z  INFO signed in user=admin";
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let client = reqwest::Client::new();
            let res = crate::process::post_login(
                &client,
                &url,
                &format!("x\n{forged}\r\u{1b}[2K\u{202e}"),
                "wrong-password-x",
            )
            .await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        });
        crate::process::wait_for(&rx, &mut seen, "audit event");
        while let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(300)) {
            seen.push(line);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            seen.iter().all(|l| !l.starts_with(forged)),
            "a forged line: {seen:#?}"
        );
        assert!(
            seen.iter()
                .all(|l| !l.contains('\r') && !l.contains('\u{1b}') && !l.contains('\u{202e}')),
            "{seen:#?}"
        );
        let event = seen
            .iter()
            .find(|l| l.contains("audit event") && l.contains("INFO signed in user=admin"))
            .unwrap_or_else(|| panic!("the username is logged, escaped: {seen:#?}"));
        if format == "text" {
            assert!(event.contains(r"x\n2026-11-23"), "{event}");
        } else {
            let value: serde_json::Value = serde_json::from_str(event).expect("one JSON object");
            assert!(value.to_string().contains(r"x\n2026-11-23"), "{value}");
        }
    }
}
