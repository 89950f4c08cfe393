//! Sign-in, wrong passwords, disabled users, rate limiting and CSRF on the login form.

use fedbroker::store::AccountChange;
use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with, Backend};
use crate::on_both_backends;

const GENERIC: &str = "Wrong username or password.";

async fn sign_in_with_the_right_password_opens_the_portal(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(
        "alice",
        "alice-password-1",
        &["AWS-123456789012-Admin", "staff"],
    )
    .await;

    let res = app.login("alice", "alice-password-1").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/");
    let cookie = res
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_string())
        .find(|c| c.starts_with("__Host-fedbroker-session="))
        .expect("session cookie set");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }

    let portal = app.get("/").await;
    assert_eq!(portal.status, StatusCode::OK);
    assert!(portal.body.contains("alice"), "{}", portal.body);
    assert!(portal.body.contains("AWS-123456789012-Admin"));
    assert!(portal.body.contains("staff"));
    assert!(portal.body.contains("Your AWS roles"));
}

async fn usernames_are_case_insensitive(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    let res = app.login("ALICE", "alice-password-1").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
}

async fn wrong_password_and_unknown_user_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;

    let wrong = app.login("alice", "not-her-password").await;
    let unknown = app.login("mallory", "whatever-password").await;
    for res in [&wrong, &unknown] {
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert!(res.body.contains(GENERIC), "{}", res.body);
        assert!(app.cookie("__Host-fedbroker-session").is_none());
    }
    assert!(
        !wrong.body.contains("not-her-password"),
        "password echoed back"
    );
    let portal = app.get("/").await;
    assert_eq!(portal.status, StatusCode::SEE_OTHER);
    assert_eq!(portal.location(), "/login");
}

async fn a_disabled_user_cannot_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("bob", "bob-password-12", &[]).await;
    app.store
        .set_disabled(
            "bob",
            true,
            &AccountChange::by("test", fedbroker::clock::now()),
        )
        .await
        .expect("disabled");

    let res = app.login("bob", "bob-password-12").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("disabled"), "{}", res.body);
    assert!(app.cookie("__Host-fedbroker-session").is_none());
    // Without the right password the answer is the generic one: nothing is revealed.
    let res = app.login("bob", "wrong-password-1").await;
    assert!(res.body.contains(GENERIC));
}

async fn disabling_a_user_ends_their_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("bob", "bob-password-12", &[]).await;
    app.login("bob", "bob-password-12").await;
    assert_eq!(app.get("/").await.status, StatusCode::OK);
    app.store
        .set_disabled(
            "bob",
            true,
            &AccountChange::by("test", fedbroker::clock::now()),
        )
        .await
        .expect("disabled");
    assert_eq!(app.get("/").await.status, StatusCode::SEE_OTHER);
}

async fn repeated_failures_for_one_user_are_rate_limited(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.login.max_failures_per_user = 3;
        s.login.max_failures_per_address = 100;
    })
    .await;
    app.create_user("alice", "alice-password-1", &[]).await;
    for _ in 0..3 {
        assert_eq!(
            app.login("alice", "wrong-password-x").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Now even the right password is refused, with a clear message and Retry-After.
    let res = app.login("alice", "alice-password-1").await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert!(
        res.body.contains("Too many failed sign-in attempts"),
        "{}",
        res.body
    );
    assert!(res.body.contains("Wait 15 minutes"), "{}", res.body);
    let retry: i64 = res.headers["retry-after"]
        .to_str()
        .unwrap_or("")
        .parse()
        .unwrap_or(0);
    assert!((800..=900).contains(&retry), "retry-after {retry}");
    // A user that does not exist is limited in exactly the same way.
    for _ in 0..3 {
        app.login("nobody", "wrong-password-x").await;
    }
    assert_eq!(
        app.login("nobody", "wrong-password-x").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another user from the same address is not affected by alice's limit.
    app.create_user("carol", "carol-password-1", &[]).await;
    assert_eq!(
        app.login("carol", "carol-password-1").await.status,
        StatusCode::SEE_OTHER
    );
}

async fn repeated_failures_from_one_address_are_rate_limited(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.login.max_failures_per_user = 100;
        s.login.max_failures_per_address = 4;
    })
    .await;
    app.create_user("alice", "alice-password-1", &[]).await;
    for i in 0..4 {
        let res = app.login(&format!("spray{i}"), "guess-password-1").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let res = app.login("alice", "alice-password-1").await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
}

async fn login_without_the_csrf_token_is_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.get("/login").await;
    // Missing token.
    let res = app
        .post_form(
            "/login",
            &[("username", "alice"), ("password", "alice-password-1")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("Form expired"), "{}", res.body);
    // A token that does not match the cookie (a cross-site form cannot know it).
    let res = app
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", "alice-password-1"),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(app.cookie("__Host-fedbroker-session").is_none());
}

async fn next_parameter_never_redirects_off_site(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    let form = app.get("/login?next=https://evil.example/").await;
    assert!(
        form.body.contains("name=\"next\" value=\"/\""),
        "{}",
        form.body
    );
    for next in ["//evil.example", "https://evil.example", "/\\evil.example"] {
        let token = app.get("/login").await.csrf_token();
        let res = app
            .post_form(
                "/login",
                &[
                    ("username", "alice"),
                    ("password", "alice-password-1"),
                    ("csrf_token", &token),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        assert_eq!(res.location(), "/", "next={next}");
    }
    // An on-site path is honoured.
    let token = app.get("/login").await.csrf_token();
    let res = app
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", "alice-password-1"),
                ("csrf_token", &token),
                ("next", "/account/password"),
            ],
        )
        .await;
    assert_eq!(res.location(), "/account/password");
}

async fn a_malformed_form_gets_a_clear_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.post_form("/login", &[("nonsense", "1")]).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.body.contains("The form could not be read"),
        "{}",
        res.body
    );
    assert!(res.body.contains("Reference"), "{}", res.body);
}

on_both_backends!(
    sign_in_with_the_right_password_opens_the_portal,
    usernames_are_case_insensitive,
    wrong_password_and_unknown_user_get_the_same_answer,
    a_disabled_user_cannot_sign_in,
    disabling_a_user_ends_their_sessions,
    repeated_failures_for_one_user_are_rate_limited,
    repeated_failures_from_one_address_are_rate_limited,
    login_without_the_csrf_token_is_rejected,
    next_parameter_never_redirects_off_site,
    a_malformed_form_gets_a_clear_400,
);
