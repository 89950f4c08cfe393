//! The bootstrap admin must change the one-time password; password changes end other sessions.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, Backend, ADMIN_PASSWORD};
use crate::on_both_backends;

async fn the_bootstrap_admin_must_change_the_one_time_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/account/password");
    // Every other page sends them back to the change form.
    for path in ["/", "/admin"] {
        let res = app.get(path).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.location(), "/account/password", "{path}");
    }
    let form = app.get("/account/password").await;
    assert!(form.body.contains("forced-change"));
    let token = form.csrf_token();

    // Too short, mismatched, wrong current password: each refused with its reason.
    for (current, new, confirm, reason) in [
        (ADMIN_PASSWORD, "short", "short", "at least 12 characters"),
        (
            ADMIN_PASSWORD,
            "long-enough-password",
            "different-password",
            "differ",
        ),
        (
            "not-the-password",
            "long-enough-password",
            "long-enough-password",
            "current password is wrong",
        ),
    ] {
        let res = app
            .post_form(
                "/account/password",
                &[
                    ("csrf_token", &token),
                    ("current_password", current),
                    ("new_password", new),
                    ("confirm_password", confirm),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(
            res.body.contains(reason),
            "expected {reason:?} in {}",
            res.body
        );
    }
    assert_eq!(
        app.get("/").await.location(),
        "/account/password",
        "nothing changed"
    );

    let res = app
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &token),
                ("current_password", ADMIN_PASSWORD),
                ("new_password", "the-admins-own-password"),
                ("confirm_password", "the-admins-own-password"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/admin").await.status, StatusCode::OK);
    // The one-time password is gone; the new one works.
    app.set_cookie("__Host-fedbroker-session", None);
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("admin", "the-admins-own-password")
            .await
            .location(),
        "/"
    );
}

async fn changing_the_password_ends_other_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.login("alice", "alice-password-1").await;
    let other = app
        .cookie("__Host-fedbroker-session")
        .expect("first session");
    app.login("alice", "alice-password-1").await;
    // `login` rotated the first away; make a second independent session by signing in fresh.
    app.set_cookie("__Host-fedbroker-session", None);
    app.login("alice", "alice-password-1").await;
    let current = app
        .cookie("__Host-fedbroker-session")
        .expect("current session");
    assert_ne!(other, current);

    let token = app.get("/account/password").await.csrf_token();
    let res = app
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &token),
                ("current_password", "alice-password-1"),
                ("new_password", "alice-password-2"),
                ("confirm_password", "alice-password-2"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        app.get("/").await.status,
        StatusCode::OK,
        "this session stays"
    );
    let (n,): (i64,) = match app.store.pool() {
        fedbroker::store::Pool::Sqlite(p) => sqlx::query_as("SELECT COUNT(*) FROM sessions")
            .fetch_one(p)
            .await
            .expect("count"),
        fedbroker::store::Pool::Postgres(p) => sqlx::query_as("SELECT COUNT(*) FROM sessions")
            .fetch_one(p)
            .await
            .expect("count"),
    };
    assert_eq!(n, 1, "only the session that changed the password is left");
}

async fn password_change_needs_the_csrf_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &[]).await;
    app.login("alice", "alice-password-1").await;
    let res = app
        .post_form(
            "/account/password",
            &[
                ("current_password", "alice-password-1"),
                ("new_password", "alice-password-2"),
                ("confirm_password", "alice-password-2"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    app.set_cookie("__Host-fedbroker-session", None);
    assert_eq!(
        app.login("alice", "alice-password-1").await.status,
        StatusCode::SEE_OTHER,
        "password unchanged"
    );
}

on_both_backends!(
    the_bootstrap_admin_must_change_the_one_time_password,
    changing_the_password_ends_other_sessions,
    password_change_needs_the_csrf_token,
);
