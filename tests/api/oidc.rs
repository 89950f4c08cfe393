//! Sign-in through an upstream OpenID Provider: the real npm `oidc-provider` on loopback,
//! driven through the whole authorization code flow (its login and consent forms) with a
//! cookie jar, and the broker's checks of state, code, nonce, issuer and expiry.

use reqwest::StatusCode;

use crate::helpers::{login_error, spawn_app_with, Backend, TestApp};
use crate::on_both_backends;
use crate::peers::free_port;
pub use crate::peers::oidc_op::Op;

/// A broker with the provider `op` at `http://127.0.0.1:<port>` (not started yet).
pub async fn app_for(backend: Backend, op_port: u16) -> TestApp {
    app_with(backend, op_port, |_| {}, |_| {}).await
}

/// The same, after letting the test adjust the source's settings.
pub async fn app_with_source(
    backend: Backend,
    op_port: u16,
    adjust: impl FnOnce(&mut fedbroker::config::OidcSource),
) -> TestApp {
    app_with(backend, op_port, adjust, |_| {}).await
}

/// [`app_for`], after letting the test adjust other settings.
pub async fn app_for_with(
    backend: Backend,
    op_port: u16,
    adjust: impl FnOnce(&mut fedbroker::config::Settings),
) -> TestApp {
    app_with(backend, op_port, |_| {}, adjust).await
}

async fn app_with(
    backend: Backend,
    op_port: u16,
    adjust_source: impl FnOnce(&mut fedbroker::config::OidcSource),
    adjust: impl FnOnce(&mut fedbroker::config::Settings),
) -> TestApp {
    let toml = format!(
        "id = \"op\"\nname = \"Example OP\"\nissuer = \"http://127.0.0.1:{op_port}\"\nclient_id = \"fedbroker\"\n\
         client_secret = \"fedbroker-client-secret\"\nscopes = [\"openid\", \"email\", \"profile\", \"groups\"]\n\
         timeout_secs = 3\n"
    );
    let mut source: fedbroker::config::OidcSource = toml::from_str(&toml).expect("source");
    adjust_source(&mut source);
    spawn_app_with(backend, move |s| {
        s.sources.oidc = vec![source];
        adjust(s);
    })
    .await
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}

/// Presses "Sign in with Example OP" and goes through the provider's login and consent forms
/// as `login`; returns the callback URL the provider sends the browser back to.
pub async fn through_the_provider(app: &TestApp, op_port: u16, login: &str) -> String {
    let start = app.get("/login/oidc/op?next=/").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let op_base = format!("http://127.0.0.1:{op_port}");
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut url = start.location().to_string();
    assert!(url.starts_with(&op_base), "{url}");
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("nonce="),
        "{url}"
    );
    for _ in 0..12 {
        let res = browser.get(&url).send().await.expect("GET at the provider");
        if res.status().is_redirection() {
            let next = absolute(
                &op_base,
                res.headers()["location"].to_str().expect("location"),
            );
            if next.starts_with(&app.address) {
                return next;
            }
            url = next;
            continue;
        }
        let html = res.text().await.expect("html");
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("a form at the provider: {html}"))
            .to_string();
        let prompt = crate::helpers::hidden_field(&html, "prompt").unwrap_or_default();
        let mut fields = vec![("prompt", prompt.clone())];
        if prompt == "login" {
            fields.push(("login", login.to_string()));
            fields.push(("password", "any".to_string()));
        }
        let res = browser
            .post(absolute(&op_base, &action))
            .form(&fields)
            .send()
            .await
            .expect("POST at the provider");
        assert!(res.status().is_redirection(), "{}", res.status());
        let next = absolute(
            &op_base,
            res.headers()["location"].to_str().expect("location"),
        );
        if next.starts_with(&app.address) {
            return next;
        }
        url = next;
    }
    panic!("the provider never sent the browser back");
}

pub fn path_of(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.address)
        .expect("broker URL")
        .to_string()
}

async fn an_oidc_user_signs_in_with_groups_and_sees_their_roles(backend: Backend) {
    let port = free_port();
    let app = app_for(backend, port).await;
    let _op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    let login = app.get("/login").await;
    assert!(login.body.contains("Sign in with Example OP"));
    let callback = through_the_provider(&app, port, "alice").await;
    let done = app.get(&path_of(&app, &callback)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/");
    let portal = app.get("/").await;
    assert!(portal.body.contains("Alice Oidc"), "{}", portal.body);
    assert!(portal.body.contains("oidc-staff"));
    assert!(portal.body.contains("arn:aws:iam::123456789012:role/Admin"));
    let user = app
        .store
        .user_by_username("alice")
        .await
        .expect("read")
        .expect("provisioned");
    assert!(user.password_hash.is_none());
    assert_eq!(user.email, "alice@op.example.com");

    // The same callback again: its state was used up.
    let replay = app.get(&path_of(&app, &callback)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(login_error(&replay).contains("state mismatch"));
}

async fn groups_only_in_userinfo_are_fetched(backend: Backend) {
    let port = free_port();
    let app = app_for(backend, port).await;
    let _op = Op::start(port, &app.address, 600, "userinfo", "127.0.0.1").await;
    let callback = through_the_provider(&app, port, "alice").await;
    assert_eq!(
        app.get(&path_of(&app, &callback)).await.status,
        StatusCode::SEE_OTHER
    );
    assert!(app.get("/").await.body.contains("AWS-123456789012-Admin"));
}

async fn a_tampered_state_a_replayed_code_and_a_wrong_nonce_are_refused(backend: Backend) {
    let port = free_port();
    let app = app_for(backend, port).await;
    let _op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;

    let callback = through_the_provider(&app, port, "bob").await;
    let tampered = path_of(&app, &callback).replace("state=", "state=x");
    let res = app.get(&tampered).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(login_error(&res).contains("state mismatch"));

    // A code used once cannot be used again, even inside a fresh sign-in.
    let first = through_the_provider(&app, port, "bob").await;
    assert_eq!(
        app.get(&path_of(&app, &first)).await.status,
        StatusCode::SEE_OTHER
    );
    let second = through_the_provider(&app, port, "bob").await;
    let code = |url: &str| {
        reqwest::Url::parse(url)
            .expect("url")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.to_string())
            .expect("code")
    };
    let replayed = path_of(&app, &second).replace(&code(&second), &code(&first));
    let res = app.get(&replayed).await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.body);
    assert!(
        login_error(&res).contains("refused the sign-in"),
        "{}",
        login_error(&res)
    );

    // The ID token's nonce must be the one this sign-in sent.
    let third = through_the_provider(&app, port, "bob").await;
    app.execute("UPDATE oidc_logins SET nonce = 'not-the-nonce-sent'")
        .await;
    let res = app.get(&path_of(&app, &third)).await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY);
    assert!(
        login_error(&res).to_lowercase().contains("nonce"),
        "{}",
        login_error(&res)
    );
    let failures = app
        .store
        .audit_events(
            &fedbroker::store::AuditFilter {
                event_type: Some("signin".into()),
                ..Default::default()
            },
            20,
        )
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.outcome == "failure")
        .count();
    assert_eq!(failures, 3);
}

async fn an_expired_id_token_is_refused(backend: Backend) {
    let port = free_port();
    let app = app_for(backend, port).await;
    let op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    let callback = through_the_provider(&app, port, "alice").await;
    // Now the provider's clock runs an hour behind: the 10-minute ID token it issues for the
    // code arrives expired.
    reqwest::get(format!(
        "http://127.0.0.1:{}/test-clock?offset=-3600",
        op.port
    ))
    .await
    .expect("clock set");
    let res = app.get(&path_of(&app, &callback)).await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.body);
    assert!(
        login_error(&res).contains("Expired"),
        "{}",
        login_error(&res)
    );
    assert_eq!(
        app.store.count_users().await.expect("count"),
        1,
        "nobody provisioned"
    );
}

async fn a_provider_with_another_issuer_or_down_gives_a_clear_error(backend: Backend) {
    let port = free_port();
    let app = app_for(backend, port).await;
    let res = app.get("/login/oidc/op?next=/").await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        login_error(&res).contains("cannot be reached"),
        "{}",
        res.body
    );

    let _op = Op::start(port, &app.address, 600, "id-token", "localhost").await;
    let res = app.get("/login/oidc/op?next=/").await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.body);
    assert!(
        login_error(&res).contains("another issuer"),
        "{}",
        login_error(&res)
    );
    assert_eq!(app.store.count_users().await.expect("count"), 1);
}

async fn a_provider_that_rotated_its_keys_is_followed(backend: Backend) {
    let port = free_port();
    let app = app_for(backend, port).await;
    let op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    let first = through_the_provider(&app, port, "alice").await;
    assert_eq!(
        app.get(&path_of(&app, &first)).await.status,
        StatusCode::SEE_OTHER
    );
    // Restarted with a new signing key: the broker's cached JWKS no longer has it.
    drop(op);
    let _op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    let second = through_the_provider(&app, port, "alice").await;
    let res = app.get(&path_of(&app, &second)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", login_error(&res));
}

async fn abandoned_sign_ins_are_forgotten(backend: Backend) {
    let app = app_for(backend, free_port()).await;
    let now = fedbroker::clock::now();
    for (state, age) in [("old", 700), ("fresh", 60)] {
        app.store
            .insert_oidc_login(&fedbroker::store::OidcLogin {
                state_hash: state.into(),
                provider: "op".into(),
                browser_hash: "b".into(),
                pkce_verifier: "v".into(),
                nonce: "n".into(),
                next: "/".into(),
                created_at: now - age,
            })
            .await
            .expect("insert");
    }
    assert_eq!(
        app.store.prune_oidc_logins(now - 600).await.expect("prune"),
        1
    );
    assert!(app
        .store
        .take_oidc_login("old")
        .await
        .expect("read")
        .is_none());
    assert!(app
        .store
        .take_oidc_login("fresh")
        .await
        .expect("read")
        .is_some());
    assert!(
        app.store
            .take_oidc_login("fresh")
            .await
            .expect("read")
            .is_none(),
        "single use"
    );
}

on_both_backends!(
    abandoned_sign_ins_are_forgotten,
    a_provider_that_rotated_its_keys_is_followed,
    an_oidc_user_signs_in_with_groups_and_sees_their_roles,
    groups_only_in_userinfo_are_fetched,
    a_tampered_state_a_replayed_code_and_a_wrong_nonce_are_refused,
    an_expired_id_token_is_refused,
    a_provider_with_another_issuer_or_down_gives_a_clear_error,
);
