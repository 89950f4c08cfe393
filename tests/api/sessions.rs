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

/// The `data-session` handles of a sessions page, each with whether it is "This browser".
fn session_rows(body: &str) -> Vec<(String, bool)> {
    body.split("<tr data-session=\"")
        .skip(1)
        .map(|row| {
            let handle = row.split('"').next().unwrap_or_default().to_string();
            let this = row
                .split("</tr>")
                .next()
                .unwrap_or_default()
                .contains("this-session");
            (handle, this)
        })
        .collect()
}

async fn end(app: &crate::helpers::TestApp, path: &str, action: &str, handle: &str) -> StatusCode {
    let token = app.get(path).await.csrf_token();
    app.post_form(
        path,
        &[
            ("csrf_token", token.as_str()),
            ("action", action),
            ("session", handle),
        ],
    )
    .await
    .status
}

/// People see their own browsers and end one, or every other one; the ended browsers are
/// signed out at their next request, the asking one stays, and each end is audited. A handle
/// that is not one of theirs ends nothing.
async fn people_see_and_end_their_own_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.create_user("bob", "bob-password-12", &[]).await;
    app.login("alice", "alice-password-1").await;
    let laptop = crate::helpers::spawn_client_for(&app);
    laptop.login("alice", "alice-password-1").await;
    let phone = crate::helpers::spawn_client_for(&app);
    phone.login("alice", "alice-password-1").await;
    let bob = crate::helpers::spawn_client_for(&app);
    bob.login("bob", "bob-password-12").await;

    let page = app.get("/account/sessions").await;
    assert_eq!(page.status, StatusCode::OK);
    let rows = session_rows(&page.body);
    assert_eq!(
        rows.len(),
        3,
        "alice's three browsers, not bob's: {}",
        page.body
    );
    assert_eq!(rows.iter().filter(|(_, this)| *this).count(), 1);
    let laptop_handle = session_rows(&laptop.get("/account/sessions").await.body)
        .into_iter()
        .find(|(_, this)| *this)
        .expect("the laptop's own row")
        .0;
    assert_eq!(
        end(&app, "/account/sessions", "end", &laptop_handle).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        laptop.get("/").await.status,
        StatusCode::SEE_OTHER,
        "signed out"
    );
    assert_eq!(phone.get("/").await.status, StatusCode::OK);

    // Bob cannot end alice's sessions with a handle he learnt.
    let phone_handle = session_rows(&phone.get("/account/sessions").await.body)
        .into_iter()
        .find(|(_, this)| *this)
        .expect("the phone's own row")
        .0;
    assert_eq!(
        end(&bob, "/account/sessions", "end", &phone_handle).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(phone.get("/").await.status, StatusCode::OK);

    assert_eq!(
        end(&app, "/account/sessions", "end-others", "").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        phone.get("/").await.status,
        StatusCode::SEE_OTHER,
        "signed out"
    );
    assert_eq!(
        app.get("/").await.status,
        StatusCode::OK,
        "the asking browser stays"
    );
    assert_eq!(
        bob.get("/").await.status,
        StatusCode::OK,
        "other people are untouched"
    );
    let revoked = crate::sts::audit_of(&app, "access.revoked").await;
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    assert!(revoked.iter().all(|e| e.subject == "alice"));
}

/// Admins list everyone's sessions (or one person's) and end any: that browser is signed out.
/// Others may not see the list.
async fn admins_end_anyones_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    let alice = crate::helpers::spawn_client_for(&app);
    alice.login("alice", "alice-password-1").await;
    assert_ne!(
        alice.get("/admin/sessions").await.status,
        StatusCode::OK,
        "not for alice"
    );
    app.login_as_admin().await;
    let page = app.get("/admin/sessions?user=alice").await;
    assert_eq!(page.status, StatusCode::OK);
    let rows = session_rows(&page.body);
    assert_eq!(rows.len(), 1, "{}", page.body);
    assert!(!rows[0].1);
    assert!(app.get("/admin/sessions").await.body.contains(">admin<"));
    assert_eq!(
        end(&app, "/admin/sessions", "end", &rows[0].0).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        alice.get("/").await.status,
        StatusCode::SEE_OTHER,
        "alice is signed out"
    );
    assert!(session_rows(&app.get("/admin/sessions?user=alice").await.body).is_empty());
    let revoked = crate::sts::audit_of(&app, "access.revoked").await;
    assert!(revoked.iter().any(|e| e.actor == "admin"
        && e.subject == "alice"
        && e.details.contains("administrator")));
}

/// Sessions past their idle or absolute timeout, not pruned yet, are not listed as signed in.
async fn expired_sessions_are_not_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    let old = crate::helpers::spawn_client_for(&app);
    old.login("alice", "alice-password-1").await;
    let ancient = crate::helpers::spawn_client_for(&app);
    ancient.login("alice", "alice-password-1").await;
    app.execute("UPDATE sessions SET last_seen_at = 1").await;
    app.login("alice", "alice-password-1").await;
    let now = fedbroker::clock::now();
    app.execute(&format!(
        "UPDATE sessions SET created_at = 1, last_seen_at = {now} WHERE created_at <> 1 \
         AND last_seen_at = 1 AND id_hash = (SELECT MIN(id_hash) FROM sessions WHERE last_seen_at = 1)"
    ))
    .await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions").await,
        3,
        "stored"
    );
    let rows = session_rows(&app.get("/account/sessions").await.body);
    assert_eq!(rows.len(), 1, "only this browser is alive: {rows:?}");
    assert!(rows[0].1);
}

on_both_backends!(
    expired_sessions_are_not_listed,
    people_see_and_end_their_own_sessions,
    admins_end_anyones_session,
    signing_in_again_rotates_the_session_id,
    an_idle_session_expires,
    a_busy_session_still_ends_at_the_absolute_timeout,
    a_session_just_inside_the_idle_timeout_survives,
    logout_revokes_the_session_on_the_server,
    logout_without_the_csrf_token_is_rejected,
    a_signed_out_visitor_is_sent_to_login_and_back,
);
