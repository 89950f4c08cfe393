//! Session rotation, expiry and sign-out.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;

const SESSION: &str = "__Host-fedbroker-session";

async fn signing_in_again_rotates_the_session_id(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.login("alice", "alice-password-1").await;
    let first = app.cookie(SESSION).expect("first session");
    app.login("alice", "alice-password-1").await;
    let second = app.cookie(SESSION).expect("second session");
    assert_ne!(first, second);
    // The id presented before sign-in is dead now (no session fixation).
    app.set_cookie(SESSION, Some(&first));
    assert_eq!(app.get("/").await.status, StatusCode::SEE_OTHER);
    app.set_cookie(SESSION, Some(&second));
    assert_eq!(app.get("/").await.status, StatusCode::OK);
}

async fn an_idle_session_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.login("alice", "alice-password-1").await;
    assert_eq!(app.get("/").await.status, StatusCode::OK);
    let idle = app.settings.session.idle_timeout_secs;
    app.execute(&format!(
        "UPDATE sessions SET last_seen_at = last_seen_at - {idle}"
    ))
    .await;
    let res = app.get("/").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/login");
}

async fn a_busy_session_still_ends_at_the_absolute_timeout(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.login("alice", "alice-password-1").await;
    let absolute = app.settings.session.absolute_timeout_secs;
    // Created long ago, but active a second ago.
    app.execute(&format!(
        "UPDATE sessions SET created_at = created_at - {absolute}"
    ))
    .await;
    assert_eq!(app.get("/").await.status, StatusCode::SEE_OTHER);
}

async fn a_session_just_inside_the_idle_timeout_survives(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.login("alice", "alice-password-1").await;
    let idle = app.settings.session.idle_timeout_secs - 30;
    app.execute(&format!(
        "UPDATE sessions SET last_seen_at = last_seen_at - {idle}"
    ))
    .await;
    assert_eq!(app.get("/").await.status, StatusCode::OK);
}

async fn logout_revokes_the_session_on_the_server(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.login("alice", "alice-password-1").await;
    let cookie = app.cookie(SESSION).expect("session");
    let portal = app.get("/").await;
    let token = portal.csrf_token();

    let res = app.post_form("/logout", &[("csrf_token", &token)]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/login");
    assert!(app.cookie(SESSION).is_none(), "cookie removed");
    // Replaying the old cookie does not work: the session is gone on the server.
    app.set_cookie(SESSION, Some(&cookie));
    assert_eq!(app.get("/").await.status, StatusCode::SEE_OTHER);
}

async fn logout_without_the_csrf_token_is_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.login("alice", "alice-password-1").await;
    let res = app.post_form("/logout", &[("csrf_token", "forged")]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/").await.status, StatusCode::OK, "still signed in");
}

async fn a_signed_out_visitor_is_sent_to_login_and_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/admin").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/login?next=%2Fadmin");
}

on_both_backends!(
    signing_in_again_rotates_the_session_id,
    an_idle_session_expires,
    a_busy_session_still_ends_at_the_absolute_timeout,
    a_session_just_inside_the_idle_timeout_survives,
    logout_revokes_the_session_on_the_server,
    logout_without_the_csrf_token_is_rejected,
    a_signed_out_visitor_is_sent_to_login_and_back,
);
