//! Admins manage local users, groups and everyone's API tokens in the browser; every change
//! is audited, and what a change revokes is revoked at once.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_client_for, Backend, TestApp};
use crate::on_both_backends;
use crate::sts::audit_of;

/// The text of the element with `id`, up to its closing tag.
fn element_text(body: &str, id: &str) -> Option<String> {
    let start = body.find(&format!("id=\"{id}\""))?;
    let open_end = body[start..].find('>')? + start + 1;
    let close = body[open_end..].find("</")? + open_end;
    Some(body[open_end..close].trim().to_string())
}

async fn admin_post(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> crate::helpers::Page {
    let csrf = app.get("/admin").await.csrf_token();
    let mut form = fields.to_vec();
    form.push(("csrf_token", &csrf));
    app.post_form(path, &form).await
}

/// Signs in with a one-time password and replaces it, as the forced change asks.
async fn first_sign_in(app: &TestApp, username: &str, one_time: &str, new_password: &str) {
    let res = app.login(username, one_time).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        res.location(),
        "/account/password",
        "the change comes first"
    );
    let portal = app.get("/").await;
    assert_eq!(
        portal.location(),
        "/account/password",
        "nothing else until then"
    );
    let token = app.get("/account/password").await.csrf_token();
    let changed = app
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &token),
                ("current_password", one_time),
                ("new_password", new_password),
                ("confirm_password", new_password),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
}

// The flow: an admin creates a local user in the browser and reads the one-time password off
// the page once; the user signs in with it, must change it before anything else, and then
// reaches the roles their group maps to. The creation is audited with the admin as actor.
async fn an_admin_creates_a_user_who_must_change_the_one_time_password(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login_as_admin().await;
    let created = admin_post(
        &app,
        "/admin/users",
        &[
            ("action", "create"),
            ("username", "Dana"),
            ("display_name", "Dana Scully"),
            ("email", "dana@example.com"),
            ("groups", "AWS-123456789012-Admin, Domain Users"),
        ],
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let one_time = element_text(&created.body, "one-time-password").expect("password shown");
    assert_eq!(one_time.len(), 20, "{one_time}");
    assert!(
        created.body.contains("href=\"/admin/users?name=dana\""),
        "normalised name"
    );
    // Shown once: the list does not show it again.
    assert!(!app.get("/admin/users").await.body.contains(&one_time));
    let stored = app
        .store
        .user_by_username("dana")
        .await
        .expect("db")
        .expect("dana exists");
    assert!(stored.must_change_password);
    assert!(!stored.password_hash.unwrap_or_default().contains(&one_time));
    let event = audit_of(&app, "admin.change")
        .await
        .into_iter()
        .find(|e| e.details.contains("\"key\":\"dana\""))
        .expect("creation audited");
    assert_eq!(event.actor, "admin");
    assert!(
        event.details.contains("\"action\":\"add\""),
        "{}",
        event.details
    );
    assert!(!event.details.contains(&one_time), "no secret in the log");

    let dana = spawn_client_for(&app);
    first_sign_in(&dana, "dana", &one_time, "danas-own-password-1").await;
    let portal = dana.get("/").await;
    assert_eq!(portal.status, StatusCode::OK);
    assert!(portal.body.contains("arn:aws:iam::123456789012:role/Admin"));
    // The one-time password is spent.
    let again = spawn_client_for(&app).login("dana", &one_time).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "refused");

    // A username taken already, or one AWS would not take, is refused on the form and
    // nothing is created.
    for (name, says) in [
        ("dana", "exists already"),
        ("bad name!", "may only contain"),
    ] {
        let refused = admin_post(
            &app,
            "/admin/users",
            &[("action", "create"), ("username", name)],
        )
        .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{name}");
        assert!(
            element_text(&refused.body, "user-error").is_some_and(|e| e.contains(says)),
            "{}",
            refused.body
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 2);
}

// Reset, disable, enable, sign out everywhere and local group changes on a person's page:
// each ends what it must at once (the person's browser is signed out), and says so.
async fn an_admin_resets_disables_and_regroups_a_user(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("erin", "erins-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login_as_admin().await;
    let erin = spawn_client_for(&app);
    erin.login("erin", "erins-password-1").await;
    assert_eq!(erin.get("/").await.status, StatusCode::OK);

    let page = app.get("/admin/users?name=erin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("arn:aws:iam::123456789012:role/Admin"),
        "roles now"
    );

    let reset = admin_post(
        &app,
        "/admin/users",
        &[("name", "erin"), ("action", "reset")],
    )
    .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    let one_time = element_text(&reset.body, "one-time-password").expect("shown once");
    assert!(
        element_text(&reset.body, "user-message").is_some_and(|m| m.contains("1 session(s) ended"))
    );
    assert_eq!(
        erin.get("/").await.status,
        StatusCode::SEE_OTHER,
        "signed out"
    );
    first_sign_in(&erin, "erin", &one_time, "erins-new-password").await;

    // Removing the group that grants the role ends the session that carries it.
    let removed = admin_post(
        &app,
        "/admin/users",
        &[
            ("name", "erin"),
            ("action", "remove-group"),
            ("group", "AWS-123456789012-Admin"),
        ],
    )
    .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(element_text(&removed.body, "no-user-roles").is_some());
    assert_eq!(erin.get("/").await.status, StatusCode::SEE_OTHER);
    let added = admin_post(
        &app,
        "/admin/users",
        &[
            ("name", "erin"),
            ("action", "add-group"),
            ("group", "AWS-123456789012-Admin"),
        ],
    )
    .await;
    assert!(added.body.contains("data-group=\"AWS-123456789012-Admin\""));

    let disabled = admin_post(
        &app,
        "/admin/users",
        &[("name", "erin"), ("action", "disable")],
    )
    .await;
    assert_eq!(
        element_text(&disabled.body, "user-status").as_deref(),
        Some("disabled")
    );
    let refused = erin.login("erin", "erins-new-password").await;
    assert_ne!(
        refused.status,
        StatusCode::SEE_OTHER,
        "a disabled user cannot sign in"
    );
    admin_post(
        &app,
        "/admin/users",
        &[("name", "erin"), ("action", "enable")],
    )
    .await;
    assert_eq!(
        erin.login("erin", "erins-new-password").await.status,
        StatusCode::SEE_OTHER
    );
    let out = admin_post(
        &app,
        "/admin/users",
        &[("name", "erin"), ("action", "sign-out")],
    )
    .await;
    assert!(element_text(&out.body, "user-message").is_some_and(|m| m.contains("Signed out")));
    assert_eq!(erin.get("/").await.status, StatusCode::SEE_OTHER);

    // Admins cannot lock themselves out, nor give a source's account a local password.
    let own = admin_post(
        &app,
        "/admin/users",
        &[("name", "admin"), ("action", "disable")],
    )
    .await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST);
    assert!(own.body.contains("cannot disable your own account"));
    let demote = admin_post(
        &app,
        "/admin/users",
        &[
            ("name", "admin"),
            ("action", "remove-group"),
            ("group", "fedbroker-admins"),
        ],
    )
    .await;
    assert_eq!(demote.status, StatusCode::BAD_REQUEST);
    assert!(demote
        .body
        .contains("cannot take yourself out of the admin group"));
    assert_eq!(
        app.get("/admin").await.status,
        StatusCode::OK,
        "still an admin"
    );
    app.execute("UPDATE users SET source = 'corp', subject = 'uid=erin' WHERE username = 'erin'")
        .await;
    let external = admin_post(
        &app,
        "/admin/users",
        &[("name", "erin"), ("action", "reset")],
    )
    .await;
    assert_eq!(external.status, StatusCode::BAD_REQUEST);
    assert!(
        external.body.contains("their password lives there"),
        "{}",
        external.body
    );
    assert!(external.body.contains("uid=erin"), "the subject is shown");
    assert_eq!(
        app.get("/admin/users?name=nobody").await.status,
        StatusCode::NOT_FOUND
    );

    let actions: Vec<String> = audit_of(&app, "admin.change")
        .await
        .into_iter()
        .filter(|e| e.subject == "erin")
        .map(|e| e.details)
        .collect();
    for action in [
        "passwd",
        "remove_member",
        "add_member",
        "disable",
        "enable",
        "sign_out",
    ] {
        assert!(
            actions
                .iter()
                .any(|d| d.contains(&format!("\"action\":\"{action}\""))),
            "{action} audited: {actions:?}"
        );
    }
}

// Names a source chose may hold characters a local username may not (`/`, `+`, accents): the
// admin still reaches the person's page and disables them; a name typed with capitals reaches
// the local account it normalises to, and the page answering the change is that person's.
async fn an_admin_acts_on_accounts_whose_names_a_source_chose(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ivy", "ivys-password-12", &["AWS-123456789012-Admin"])
        .await;
    app.login_as_admin().await;
    let name = "josé/ops+1@corp.example";
    app.execute(&format!(
        "INSERT INTO users (username, display_name, email, disabled, must_change_password, \
         created_at, updated_at, attributes, source, subject) VALUES \
         ('{name}', 'José', '', false, false, 1, 1, '{{\"department\":\"ops\"}}', 'corp', 'uid=jose')"
    ))
    .await;
    let list = app.get("/admin/users").await;
    let link = "/admin/users?name=jos%C3%A9%2Fops%2B1%40corp.example";
    assert!(list.body.contains(link), "{}", list.body);
    let page = app.get(link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("uid=jose") && page.body.contains("department"));
    let disabled = admin_post(
        &app,
        "/admin/users",
        &[("name", name), ("action", "disable")],
    )
    .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(
        element_text(&disabled.body, "user-status").as_deref(),
        Some("disabled")
    );

    // A source's normalisation can leave a leading space: the stored name is matched as given.
    app.execute(
        "INSERT INTO users (username, display_name, email, disabled, must_change_password, \
         created_at, updated_at, attributes, source, subject) VALUES \
         (' \u{308}al', '', '', false, false, 1, 1, '{}', 'corp', 'uid=al')",
    )
    .await;
    let spaced = admin_post(
        &app,
        "/admin/users",
        &[("name", " \u{308}al"), ("action", "disable")],
    )
    .await;
    assert_eq!(spaced.status, StatusCode::OK, "{}", spaced.body);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE subject = 'uid=al' AND disabled = true")
            .await,
        1
    );

    let ivy = spawn_client_for(&app);
    ivy.login("ivy", "ivys-password-12").await;
    assert_eq!(
        app.get("/admin/users?name=IVY").await.status,
        StatusCode::OK,
        "the page resolves names as the actions do"
    );
    let out = admin_post(
        &app,
        "/admin/users",
        &[("name", "IVY"), ("action", "sign-out")],
    )
    .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert!(
        out.body.contains("<h1>ivy"),
        "the page of the person changed"
    );
    assert_eq!(ivy.get("/").await.status, StatusCode::SEE_OTHER);
    let nobody = admin_post(
        &app,
        "/admin/users",
        &[("name", "nobody"), ("action", "disable")],
    )
    .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

// Groups: created in the browser, members added and removed, and the roles the group maps to
// through the rules listed on its page.
async fn an_admin_manages_groups_and_sees_the_roles_they_map_to(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("fay", "fays-password-12", &[]).await;
    app.login_as_admin().await;
    let created = admin_post(
        &app,
        "/admin/groups",
        &[("action", "create"), ("name", "AWS-210987654321-ReadOnly")],
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(created
        .body
        .contains("arn:aws:iam::210987654321:role/ReadOnly"));
    let duplicate = admin_post(
        &app,
        "/admin/groups",
        &[("action", "create"), ("name", "AWS-210987654321-ReadOnly")],
    )
    .await;
    assert_eq!(duplicate.status, StatusCode::BAD_REQUEST);
    assert!(duplicate.body.contains("exists already"));

    let added = admin_post(
        &app,
        "/admin/groups",
        &[
            ("action", "add-member"),
            ("name", "AWS-210987654321-ReadOnly"),
            ("username", "fay"),
        ],
    )
    .await;
    assert!(added.body.contains("data-member=\"fay\""), "{}", added.body);
    let page = app
        .get("/admin/groups?name=AWS-210987654321-ReadOnly")
        .await;
    assert!(page.body.contains("data-member=\"fay\""));
    let unknown = admin_post(
        &app,
        "/admin/groups",
        &[
            ("action", "add-member"),
            ("name", "AWS-210987654321-ReadOnly"),
            ("username", "nobody"),
        ],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.body.contains("user `nobody` does not exist"),
        "{}",
        unknown.body
    );
    let removed = admin_post(
        &app,
        "/admin/groups",
        &[
            ("action", "remove-member"),
            ("name", "AWS-210987654321-ReadOnly"),
            ("username", "fay"),
        ],
    )
    .await;
    assert!(element_text(&removed.body, "no-members").is_some());
    let listed = app.get("/admin/groups").await;
    assert!(listed
        .body
        .contains("href=\"/admin/groups?name=AWS-210987654321-ReadOnly\""));
}

// Everyone's live API tokens and command-line sign-ins, for admins: revoking one stops it at
// once, and the audit log names the admin.
async fn an_admin_lists_and_revokes_anyones_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("gus", "guss-password-12", &["AWS-123456789012-Admin"])
        .await;
    let gus = spawn_client_for(&app);
    gus.login("gus", "guss-password-12").await;
    let csrf = gus.get("/account/tokens").await.csrf_token();
    let made = gus
        .post_form(
            "/account/tokens",
            &[
                ("csrf_token", &csrf),
                ("name", "build-job"),
                ("days", "7"),
                ("scope", "roles"),
            ],
        )
        .await;
    let secret = element_text(&made.body, "token-secret").expect("token shown");
    let roles = |secret: String| {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/roles", app.address);
        async move {
            client
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(roles(secret.clone()).await, StatusCode::OK);
    let gus_id = app
        .store
        .user_by_username("gus")
        .await
        .expect("db")
        .expect("exists")
        .id;
    app.store
        .create_cli_grant(gus_id, "gus-laptop", "a-grant-hash", 1, i64::MAX / 2)
        .await
        .expect("grant");

    app.login_as_admin().await;
    let list = app.get("/admin/tokens?user=gus").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("build-job") && list.body.contains("gus-laptop"));
    assert!(
        !list.body.contains(&secret),
        "secrets are never shown again"
    );
    let token_id = app.store.api_tokens_of(gus_id).await.expect("ok")[0]
        .id
        .to_string();
    // An id with the wrong owner revokes nothing.
    let wrong = admin_post(
        &app,
        "/admin/tokens",
        &[("kind", "token"), ("id", &token_id), ("user", "admin")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(roles(secret.clone()).await, StatusCode::OK);
    let revoked = admin_post(
        &app,
        "/admin/tokens",
        &[
            ("kind", "token"),
            ("id", &token_id),
            ("user", "gus"),
            ("filter", "gus"),
        ],
    )
    .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(revoked.location(), "/admin/tokens?user=gus");
    assert_eq!(roles(secret).await, StatusCode::UNAUTHORIZED);
    let grant_id = app.store.cli_grants_of(gus_id).await.expect("ok")[0]
        .id
        .to_string();
    admin_post(
        &app,
        "/admin/tokens",
        &[("kind", "cli"), ("id", &grant_id), ("user", "gus")],
    )
    .await;
    assert!(app.store.cli_grants_of(gus_id).await.expect("ok")[0]
        .revoked_at
        .is_some());
    let after = app.get("/admin/tokens").await;
    assert!(element_text(&after.body, "no-tokens").is_some());
    assert!(element_text(&after.body, "no-grants").is_some());
    let events = audit_of(&app, "api_token").await;
    let by_admin: Vec<_> = events
        .iter()
        .filter(|e| e.actor == "admin" && e.subject == "gus")
        .collect();
    assert_eq!(by_admin.len(), 2, "{events:?}");
}

async fn the_user_pages_are_for_admins_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("hal", "hals-password-12", &[]).await;
    app.login("hal", "hals-password-12").await;
    for path in [
        "/admin/users",
        "/admin/users?name=hal",
        "/admin/groups",
        "/admin/groups?name=fedbroker-admins",
        "/admin/tokens",
    ] {
        assert_eq!(app.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let csrf = app.get("/").await.csrf_token();
    let res = app
        .post_form(
            "/admin/groups",
            &[
                ("csrf_token", &csrf),
                ("action", "add-member"),
                ("name", "fedbroker-admins"),
                ("username", "hal"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM group_members m JOIN users u ON u.id = m.user_id WHERE u.username = 'hal'")
            .await,
        0
    );
}

on_both_backends!(
    an_admin_creates_a_user_who_must_change_the_one_time_password,
    an_admin_resets_disables_and_regroups_a_user,
    an_admin_acts_on_accounts_whose_names_a_source_chose,
    an_admin_manages_groups_and_sees_the_roles_they_map_to,
    an_admin_lists_and_revokes_anyones_tokens,
    the_user_pages_are_for_admins_only,
);
