//! The admin area is for the admin group only.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;

async fn admins_reach_the_admin_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login_as_admin().await;
    let res = app.get("/admin").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("Administration"));
    assert!(res.body.contains("admin via local group"), "admins listed");
    let users = app.get("/admin/users").await;
    assert!(users.body.contains(">alice</a>"), "users listed");
    let groups = app.get("/admin/groups").await;
    assert!(
        groups.body.contains(">fedbroker-admins</a>"),
        "groups listed"
    );
    let portal = app.get("/").await;
    assert!(
        portal.body.contains("href=\"/admin\""),
        "admin link shown to admins"
    );
}

async fn non_admins_get_a_403_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    let res = app.get("/admin").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("fedbroker-admins"), "{}", res.body);
    assert!(res.body.contains("Reference"));
    let portal = app.get("/").await;
    assert!(
        !portal.body.contains("href=\"/admin\""),
        "no admin link for non-admins"
    );
}

async fn membership_of_a_look_alike_group_is_not_enough(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(
        "eve",
        "eve-password-123",
        &["FEDBROKER-ADMINS", "fedbroker-admins-x"],
    )
    .await;
    app.login("eve", "eve-password-123").await;
    assert_eq!(app.get("/admin").await.status, StatusCode::FORBIDDEN);
}

on_both_backends!(
    admins_reach_the_admin_page,
    non_admins_get_a_403_page,
    membership_of_a_look_alike_group_is_not_enough,
);
