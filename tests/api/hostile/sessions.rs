//! Hostile inputs: sessions and tokens after password changes, resets, disables and group
//! removals; refusals of access and their audit trail; CSRF on every state-changing route;
//! and the smaller hardening of responses, exports and files.

use std::io::Write;
use std::process::{Command, Stdio};

use fedbroker::store::{AuditFilter, AuditRecord};
use reqwest::StatusCode;

use crate::helpers::{config_dir, spawn_app, spawn_client_for, Backend, Page, TestApp};
use crate::on_both_backends;

const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/Admin";
const ROLE_BODY: &str = r#"{"role": "arn:aws:iam::123456789012:role/Admin"}"#;
const FOREIGN_ROLE: &str = "arn:aws:iam::999999999999:role/Admin";
const SESSION_COOKIE: &str = "__Host-fedbroker-session";

/// Creates an API token on /account/tokens and returns its secret.
async fn create_token(app: &TestApp, scopes: &[&str]) -> String {
    let csrf = app.get("/account/tokens").await.csrf_token();
    let mut form = vec![
        ("csrf_token", csrf.as_str()),
        ("name", "script"),
        ("days", "30"),
    ];
    for s in scopes {
        form.push(("scope", s));
    }
    let page = app.post_form("/account/tokens", &form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body
        .split("id=\"token-secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the new token is shown")
        .to_string()
}

/// Calls the JSON API with a bearer token; returns the status and the JSON body.
async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    body: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    crate::api_v1::call(app, method, path, Some(bearer), body).await
}

/// `GET /api/v1/roles` with a bearer token: status and JSON.
pub(crate) async fn roles_with(app: &TestApp, token: &str) -> (StatusCode, serde_json::Value) {
    api(app, reqwest::Method::GET, "/api/v1/roles", token, None).await
}

async fn events(app: &TestApp, event_type: &str) -> Vec<AuditRecord> {
    app.store
        .audit_events(
            &AuditFilter {
                event_type: Some(event_type.into()),
                ..Default::default()
            },
            100,
        )
        .await
        .expect("audit events")
}

fn details(e: &AuditRecord) -> serde_json::Value {
    serde_json::from_str(&e.details).expect("details are JSON")
}

/// Runs the `fedbroker` command line against the test broker's database.
fn cli(app: &TestApp, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env_remove("FEDBROKER_PROFILE")
        .env("FEDBROKER_CONFIG_DIR", config_dir())
        .env("FEDBROKER__DATABASE__URL", &app.settings.database.url)
        .env(
            "FEDBROKER__SAML__KEY_ENCRYPTION_KEY",
            app.settings.saml.key_encryption_key.expose(),
        )
        .env("USER", "operator")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the fedbroker binary runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("finishes");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Alice, signed in twice (laptop and phone), with a live API token.
async fn alice_with_two_sessions_and_a_token(app: &TestApp) -> (TestApp, String) {
    app.create_user(
        "alice",
        "alice-password-1",
        &["AWS-123456789012-Admin", "ops"],
    )
    .await;
    app.login("alice", "alice-password-1").await;
    let phone = spawn_client_for(app);
    phone.login("alice", "alice-password-1").await;
    assert_eq!(phone.get("/").await.status, StatusCode::OK);
    let token = create_token(app, &["roles"]).await;
    assert_eq!(roles_with(app, &token).await.0, StatusCode::OK);
    (phone, token)
}

/// The one `access.revoked` event, with its details.
async fn the_revocation(app: &TestApp) -> (AuditRecord, serde_json::Value) {
    let revoked = events(app, "access.revoked").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    let d = details(&revoked[0]);
    (revoked[0].clone(), d)
}

fn signed_out(page: &Page) -> bool {
    page.status == StatusCode::SEE_OTHER && page.location().starts_with("/login")
}

// Attack: someone who learnt alice's password signs in on another device and makes an API
// token; alice changes her password. Expected: the other session ends and the token is
// refused (401 `revoked_token`); alice's own session survives under a new id.
async fn a_password_change_ends_other_sessions_revokes_tokens_and_rotates_the_one_in_use(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (phone, token) = alice_with_two_sessions_and_a_token(&app).await;
    let before = app.cookie(SESSION_COOKIE).expect("session cookie");
    let csrf = app.get("/account/password").await.csrf_token();
    let res = app
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", "alice-password-1"),
                ("new_password", "alice-password-2"),
                ("confirm_password", "alice-password-2"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let after = app.cookie(SESSION_COOKIE).expect("a new session cookie");
    assert_ne!(before, after, "the session id is rotated");
    assert_eq!(app.get("/").await.status, StatusCode::OK, "still signed in");
    let stolen = spawn_client_for(&app);
    stolen.set_cookie(SESSION_COOKIE, Some(&before));
    assert!(signed_out(&stolen.get("/").await), "the old id is dead");
    assert!(signed_out(&phone.get("/").await), "the other device is out");
    let (status, body) = roles_with(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "revoked_token");
    let (event, d) = the_revocation(&app).await;
    assert_eq!(
        (event.actor.as_str(), event.subject.as_str()),
        ("alice", "alice")
    );
    assert_eq!(d["cause"], "password_changed");
    assert_eq!(d["sessions_ended"], 1);
    assert_eq!(d["tokens_revoked"], 1);
    assert_eq!(d["kept_current_session"], true);
}

// Attack: an admin resets alice's password from the command line because it leaked; the
// attacker keeps the session and token made with the leaked one. Expected: every session
// ends, every token is refused, and the audit log says what the reset revoked.
async fn an_admin_reset_from_the_command_line_ends_every_session_and_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (phone, token) = alice_with_two_sessions_and_a_token(&app).await;
    let (ok, out, err) = cli(&app, &["user", "passwd", "alice"], None);
    assert!(ok, "{err}");
    assert!(
        out.contains("2 session(s) ended, 1 API token(s) and 0 command-line sign-in(s) revoked"),
        "{out}"
    );
    assert!(signed_out(&app.get("/").await));
    assert!(signed_out(&phone.get("/").await));
    let (status, body) = roles_with(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "revoked_token");
    let (event, d) = the_revocation(&app).await;
    assert_eq!(event.actor, "cli:operator");
    assert_eq!(event.subject, "alice");
    assert_eq!(d["cause"], "password_reset");
    assert_eq!(d["sessions_ended"], 2);
    assert_eq!(d["tokens_revoked"], 1);
    assert_eq!(d["kept_current_session"], false);
}

// Attack: a disabled person keeps using the API with a token made before. Expected: the
// token is revoked with the sessions (401 `revoked_token`, not merely `account_disabled`,
// so re-enabling the account does not bring it back).
async fn disabling_a_user_revokes_their_tokens_for_good(backend: Backend) {
    let app = spawn_app(backend).await;
    let (phone, token) = alice_with_two_sessions_and_a_token(&app).await;
    let (ok, out, err) = cli(&app, &["user", "disable", "alice"], None);
    assert!(ok, "{err}");
    assert!(
        out.contains("1 API token(s) and 0 command-line sign-in(s) revoked"),
        "{out}"
    );
    assert!(signed_out(&phone.get("/").await));
    let (ok, _, err) = cli(&app, &["user", "enable", "alice"], None);
    assert!(ok, "{err}");
    let (status, body) = roles_with(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "revoked_token");
    let (_, d) = the_revocation(&app).await;
    assert_eq!(d["cause"], "disabled");
    assert_eq!(d["tokens_revoked"], 1);
}

// Attack: someone removed from a group keeps its roles through the session and token they
// already had. Expected: the removal ends both; adding a member revokes nothing.
async fn removing_a_user_from_a_group_ends_their_sessions_and_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let (phone, token) = alice_with_two_sessions_and_a_token(&app).await;
    let (ok, _, err) = cli(&app, &["group", "member", "ops", "alice"], None);
    assert!(ok, "{err}");
    assert!(events(&app, "access.revoked").await.is_empty());
    assert_eq!(phone.get("/").await.status, StatusCode::OK);
    let (ok, out, err) = cli(&app, &["group", "member", "ops", "alice", "--remove"], None);
    assert!(ok, "{err}");
    assert!(
        out.contains("2 session(s) ended, 1 API token(s) and 0 command-line sign-in(s) revoked"),
        "{out}"
    );
    assert!(signed_out(&phone.get("/").await));
    assert!(signed_out(&app.get("/").await));
    assert_eq!(roles_with(&app, &token).await.0, StatusCode::UNAUTHORIZED);
    let (_, d) = the_revocation(&app).await;
    assert_eq!(d["cause"], "removed_from_group");
    assert_eq!(d["group"], "ops");
}

// Attack: a token is used while its owner has a password change pending (an admin set a
// one-time password). Expected: 403 with the code `password_change_required`, the same
// answer a browser session gets, and no role list.
async fn a_token_is_refused_while_a_password_change_is_pending(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = alice_with_two_sessions_and_a_token(&app).await;
    // Set the flag alone, as a reset that revoked nothing would leave it.
    app.execute("UPDATE users SET must_change_password = TRUE WHERE username = 'alice'")
        .await;
    let (status, body) = roles_with(&app, &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "password_change_required");
    assert!(body.get("roles").is_none());
}

// Attack: a person tampers with the role field of every form and API call, naming a role
// they do not hold. Expected: 403 on every path (forms and API alike), and one
// `access.denied` event per attempt with the reason `role_not_granted` and the role asked for.
async fn a_role_not_granted_is_refused_with_403_and_audited_on_every_path(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("bob", "bob-password-12", &["AWS-210987654321-Dev"])
        .await;
    app.login("bob", "bob-password-12").await;
    let token = create_token(&app, &["credentials", "console"]).await;
    let csrf = app.get("/").await.csrf_token();
    for path in ["/saml/aws/sso", "/credentials", "/console/federation"] {
        let page = app
            .post_form(path, &[("csrf_token", &csrf), ("role", FOREIGN_ROLE)])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}: {}", page.body);
        assert!(page.body.contains("is not one of your roles"), "{path}");
    }
    let pin = app
        .post_form(
            "/portal/favourites",
            &[("csrf_token", &csrf), ("role", FOREIGN_ROLE), ("pin", "1")],
        )
        .await;
    assert_eq!(pin.status, StatusCode::FORBIDDEN, "{}", pin.body);
    let body = format!(r#"{{"role": "{FOREIGN_ROLE}"}}"#);
    for path in ["/api/v1/credentials", "/api/v1/console-url"] {
        let (status, json) = api(&app, reqwest::Method::POST, path, &token, Some(&body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {json}");
        assert_eq!(json["error"], "role_not_granted");
    }
    let denied = events(&app, "access.denied").await;
    assert_eq!(denied.len(), 6, "{denied:?}");
    let mut purposes: Vec<String> = denied
        .iter()
        .map(|e| {
            assert_eq!(e.subject, "bob");
            assert_eq!(e.outcome, "failure");
            assert_eq!(e.role_arn, FOREIGN_ROLE);
            assert_eq!(e.account_id, "999999999999");
            let d = details(e);
            assert_eq!(d["reason"], "role_not_granted");
            d["purpose"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    purposes.sort();
    // The federation form and both API calls go through the credentials path.
    assert_eq!(
        purposes,
        [
            "console",
            "credentials",
            "credentials",
            "credentials",
            "credentials",
            "favourite"
        ]
    );
}

// Attack: a token made for listing roles is used to get credentials. Expected: 403
// `missing_scope`, and an `access.denied` event naming the scope, the token and the path.
async fn a_token_used_beyond_its_scopes_is_refused_and_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    let token = create_token(&app, &["roles"]).await;
    let (status, json) = api(
        &app,
        reqwest::Method::POST,
        "/api/v1/credentials",
        &token,
        Some(ROLE_BODY),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
    assert_eq!(json["error"], "missing_scope");
    let denied = events(&app, "access.denied").await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    let d = details(&denied[0]);
    assert_eq!(denied[0].subject, "alice");
    assert_eq!(d["reason"], "missing_scope");
    assert_eq!(d["scope"], "credentials");
    assert_eq!(d["path"], "/api/v1/credentials");
    assert!(d["token_id"].as_i64().is_some(), "{d}");
}

// Attack: a signed-in person who is not an admin opens and posts to admin pages. Expected:
// 403 each time, and an `access.denied` event with the reason `not_admin` and the path.
async fn a_non_admin_on_an_admin_route_is_refused_and_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("bob", "bob-password-12", &["AWS-210987654321-Dev"])
        .await;
    app.login("bob", "bob-password-12").await;
    assert_eq!(app.get("/admin/rules").await.status, StatusCode::FORBIDDEN);
    let csrf = app.get("/").await.csrf_token();
    let post = app
        .post_form("/admin/keys", &[("csrf_token", &csrf), ("action", "add")])
        .await;
    assert_eq!(post.status, StatusCode::FORBIDDEN);
    let denied = events(&app, "access.denied").await;
    let mut paths: Vec<String> = denied
        .iter()
        .map(|e| {
            assert_eq!(e.subject, "bob");
            let d = details(e);
            assert_eq!(d["reason"], "not_admin");
            format!(
                "{} {}",
                d["method"].as_str().unwrap_or(""),
                d["path"].as_str().unwrap_or("")
            )
        })
        .collect();
    paths.sort();
    assert_eq!(paths, ["GET /admin/rules", "POST /admin/keys"]);
    assert_eq!(
        app.store.list_keys().await.expect("keys").len(),
        1,
        "no key added"
    );
}

on_both_backends!(
    a_password_change_ends_other_sessions_revokes_tokens_and_rotates_the_one_in_use,
    an_admin_reset_from_the_command_line_ends_every_session_and_token,
    disabling_a_user_revokes_their_tokens_for_good,
    removing_a_user_from_a_group_ends_their_sessions_and_tokens,
    a_token_is_refused_while_a_password_change_is_pending,
    a_role_not_granted_is_refused_with_403_and_audited_on_every_path,
    a_token_used_beyond_its_scopes_is_refused_and_audited,
    a_non_admin_on_an_admin_route_is_refused_and_audited,
);

/// Every `POST` route the application registers, read from the route table's source, with
/// the prefix of the `web::scope` it sits in. The CSRF table below is compared against it, so a
/// new state-changing route without a row fails that test.
fn registered_post_routes() -> Vec<String> {
    let sources = [
        include_str!("../../../src/http/routes/mod.rs"),
        include_str!("../../../src/startup.rs"),
    ];
    let mut routes = Vec::new();
    for source in sources {
        let text: String = source.split_whitespace().collect();
        // Resources or catch-all methods would hide routes from this reader: none may exist.
        for unreadable in [
            "web::resource(",
            "web::route()",
            "Method::POST",
            "web::method(",
        ] {
            assert!(
                !text.contains(unreadable),
                "the route table uses `{unreadable}`: teach registered_post_routes() to read it"
            );
        }
        // Spans of `.service(web::scope("PREFIX")...)`, by matching parentheses.
        let mut scopes = Vec::new();
        for (start, _) in text.match_indices(".service(web::scope(\"") {
            let prefix_start = start + ".service(web::scope(\"".len();
            let prefix = &text[prefix_start
                ..prefix_start + text[prefix_start..].find('"').expect("a closing quote")];
            let open = start + ".service".len();
            let mut depth = 0;
            let mut end = open;
            for (i, c) in text[open..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            scopes.push((open, end, prefix.to_string()));
        }
        for (at, _) in text.match_indices(".route(\"") {
            let rest = &text[at + ".route(\"".len()..];
            let path = &rest[..rest.find('"').expect("a closing quote")];
            if !rest[path.len()..].starts_with("\",web::post()") {
                continue;
            }
            let prefix = scopes
                .iter()
                .find(|(s, e, _)| *s < at && at < *e)
                .map_or("", |(_, _, p)| p.as_str());
            routes.push(format!("{prefix}{path}"));
        }
    }
    routes.sort();
    routes
}

/// A CSRF table row: the registered route, the address to post to, fields that would change
/// something if the token were not checked.
type CsrfRow = (&'static str, String, Vec<(&'static str, String)>);

/// What a refused request must not have changed: rules, keys, aliases, Region controls,
/// tokens, favourites, the admin's password, and no assertion or STS call.
async fn everything_that_a_post_can_change(app: &TestApp) -> String {
    let s = &app.store;
    let admin = s
        .user_by_username("admin")
        .await
        .expect("db")
        .expect("admin");
    let rules: Vec<_> = s
        .list_rules()
        .await
        .expect("rules")
        .into_iter()
        .map(|r| format!("{r:?}"))
        .collect();
    let keys: Vec<_> = s
        .list_keys()
        .await
        .expect("keys")
        .into_iter()
        .map(|k| format!("{} {}", k.kid, k.state))
        .collect();
    let tokens: Vec<_> = s
        .api_tokens_of(admin.id)
        .await
        .expect("tokens")
        .into_iter()
        .map(|t| format!("{} {:?}", t.id, t.revoked_at))
        .collect();
    let grants: Vec<_> = s
        .cli_grants_of(admin.id)
        .await
        .expect("grants")
        .into_iter()
        .map(|g| format!("{} {:?}", g.id, g.revoked_at))
        .collect();
    let codes = app.count("SELECT COUNT(*) FROM oauth_codes").await;
    let users: Vec<_> = s
        .list_users()
        .await
        .expect("users")
        .into_iter()
        .map(|u| format!("{} {} {:?}", u.username, u.disabled, u.password_hash))
        .collect();
    let groups: Vec<_> = s
        .list_groups()
        .await
        .expect("groups")
        .into_iter()
        .map(|g| format!("{} {}", g.name, g.members))
        .collect();
    let sessions = app.count("SELECT COUNT(*) FROM sessions").await;
    format!(
        "{users:?} {groups:?} {sessions}\n{grants:?} {codes}\n{rules:?}\n{keys:?}\n{:?}\n{:?}\n{tokens:?}\n{:?}\n{:?}\n{} {}",
        s.list_accounts().await.expect("accounts"),
        s.region_controls().await.expect("regions"),
        s.favourites(admin.id).await.expect("favourites"),
        admin.password_hash,
        events(app, "assertion.issued").await.len(),
        events(app, "sts.assume_role").await.len(),
    )
}

// Attack: a form posted from another site (no token, an empty one, a wrong one) on every
// state-changing route, and the login form without its CSRF cookie. Expected: 403 "Form
// expired" (JSON `csrf` on the API) each time, and nothing changed. The table must list
// every POST route the application registers.
async fn every_state_changing_route_refuses_a_missing_empty_or_wrong_csrf_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login_as_admin().await;
    // The admin holds a role, so that a form skipping its CSRF check would go ahead.
    app.store
        .create_group("AWS-123456789012-Admin", 0)
        .await
        .expect("group");
    app.execute(
        "INSERT INTO group_members (group_id, user_id) SELECT g.id, u.id FROM groups g, users u \
         WHERE g.name = 'AWS-123456789012-Admin' AND u.username = 'admin'",
    )
    .await;
    let csrf = app.get("/").await.csrf_token();
    // A token to try to revoke, and the first rule to try to change.
    let created = app
        .post_form(
            "/account/tokens",
            &[
                ("csrf_token", &csrf),
                ("name", "t"),
                ("days", "1"),
                ("scope", "roles"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let admin_id = app
        .store
        .user_by_username("admin")
        .await
        .expect("db")
        .expect("admin")
        .id;
    let token_id = app.store.api_tokens_of(admin_id).await.expect("tokens")[0].id;
    let grant_id = app
        .store
        .create_cli_grant(admin_id, "laptop", "a-grant-hash", 1, i64::MAX / 2)
        .await
        .expect("grant");
    let rule = app.store.list_rules().await.expect("rules")[0].clone();
    let rule_fields = |name: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("name", name.into()),
            ("effect", "allow".into()),
            ("pattern", "^Team-(\\d{12})-(\\w+)$".into()),
            ("role", "arn:aws:iam::{1}:role/{2}".into()),
            ("enabled", "on".into()),
            ("version", rule.version.to_string()),
        ]
    };
    let role = || vec![("role", ADMIN_ROLE.to_string())];
    // (registered route, address to post to, fields that would change something).
    let table: Vec<CsrfRow> = vec![
        ("/logout", "/logout".into(), vec![]),
        ("/portal/favourites", "/portal/favourites".into(), {
            let mut f = role();
            f.push(("pin", "1".into()));
            f
        }),
        ("/credentials", "/credentials".into(), role()),
        ("/console/federation", "/console/federation".into(), role()),
        ("/saml/aws/sso", "/saml/aws/sso".into(), role()),
        (
            "/account/password",
            "/account/password".into(),
            vec![
                ("current_password", "a-new-admin-password".into()),
                ("new_password", "a-third-admin-password".into()),
                ("confirm_password", "a-third-admin-password".into()),
            ],
        ),
        (
            "/account/tokens",
            "/account/tokens".into(),
            vec![
                ("name", "evil".into()),
                ("days", "1".into()),
                ("scope", "roles".into()),
            ],
        ),
        (
            "/account/tokens/{id}/revoke",
            format!("/account/tokens/{token_id}/revoke"),
            vec![],
        ),
        (
            "/account/cli-sign-ins/{id}/revoke",
            format!("/account/cli-sign-ins/{grant_id}/revoke"),
            vec![],
        ),
        (
            "/oauth/authorize",
            "/oauth/authorize".into(),
            vec![
                ("decision", "approve".into()),
                ("response_type", "code".into()),
                ("client_id", "fedbroker-cli".into()),
                ("redirect_uri", "http://127.0.0.1:5555/callback".into()),
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
                ),
                ("code_challenge_method", "S256".into()),
                ("state", "s".into()),
                ("device", "evil".into()),
            ],
        ),
        (
            "/admin/keys",
            "/admin/keys".into(),
            vec![("action", "add".into())],
        ),
        (
            "/admin/regions",
            "/admin/regions".into(),
            vec![("action", "pin".into()), ("region", "us-east-2".into())],
        ),
        (
            "/admin/rules/new",
            "/admin/rules/new".into(),
            rule_fields("evil"),
        ),
        (
            "/admin/rules/{id}",
            format!("/admin/rules/{}", rule.id),
            rule_fields("renamed"),
        ),
        (
            "/admin/rules/{id}/action",
            format!("/admin/rules/{}/action", rule.id),
            vec![
                ("action", "disable".into()),
                ("version", rule.version.to_string()),
            ],
        ),
        (
            "/account/sessions",
            "/account/sessions".into(),
            vec![("action", "end-others".into())],
        ),
        (
            "/admin/sessions",
            "/admin/sessions".into(),
            vec![
                ("action", "end".into()),
                ("session", "0000000000000000".into()),
            ],
        ),
        (
            "/admin/encryption",
            "/admin/encryption".into(),
            vec![
                ("action", "remove".into()),
                (
                    "provider",
                    "arn:aws:iam::123456789012:saml-provider/fedbroker".into(),
                ),
            ],
        ),
        (
            "/admin/users",
            "/admin/users".into(),
            vec![
                ("action", "create".into()),
                ("username", "mallory".into()),
                ("groups", "fedbroker-admins".into()),
            ],
        ),
        (
            "/admin/groups",
            "/admin/groups".into(),
            vec![
                ("action", "add-member".into()),
                ("name", "AWS-123456789012-Admin".into()),
                ("username", "mallory".into()),
            ],
        ),
        (
            "/admin/tokens",
            "/admin/tokens".into(),
            vec![
                ("kind", "token".into()),
                ("id", token_id.to_string()),
                ("user", "admin".into()),
            ],
        ),
        (
            "/admin/accounts",
            "/admin/accounts".into(),
            vec![
                ("action", "save".into()),
                ("id", "123456789012".into()),
                ("name", "Evil".into()),
                ("environment", "prod".into()),
            ],
        ),
    ];
    // The JSON API reads its CSRF token from a header when a session cookie authenticates.
    let api_routes = ["/api/v1/console-url", "/api/v1/credentials"];
    let mut covered: Vec<String> = table.iter().map(|(r, _, _)| r.to_string()).collect();
    covered.extend(api_routes.iter().map(|r| r.to_string()));
    covered.push("/login".into());
    // A SAML identity provider's answer is a cross-site POST by design and carries no form
    // token: it is accepted only as a signed response answering this browser's own request
    // (tests/api/upstream_saml.rs refuses the unsolicited and mismatched ones).
    covered.push("/saml/sp/{id}/acs".into());
    // The command-line client's token endpoint reads no cookie: a code needs its PKCE
    // verifier and a refresh token is itself the secret (tests/api/cli_sign_in.rs).
    covered.push("/oauth/token".into());
    covered.sort();
    assert_eq!(
        covered,
        registered_post_routes(),
        "every POST route needs a row in this CSRF table"
    );

    let before = everything_that_a_post_can_change(&app).await;
    for (route, url, fields) in &table {
        for token in [None, Some(""), Some("forged-token"), Some(&csrf[1..])] {
            let mut form: Vec<(&str, &str)> =
                fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Some(t) = token {
                form.push(("csrf_token", t));
            }
            let res = app.post_form(url, &form).await;
            assert_eq!(
                res.status,
                StatusCode::FORBIDDEN,
                "{route} with token {token:?}: {}",
                res.body
            );
            assert!(
                res.body.contains("Form expired"),
                "{route} with token {token:?} was refused for another reason: {}",
                res.body
            );
        }
    }
    for route in api_routes {
        for header in [None, Some(""), Some("forged-token")] {
            let mut req = app
                .client
                .post(format!("{}{route}", app.address))
                .header(
                    "cookie",
                    format!(
                        "{SESSION_COOKIE}={}",
                        app.cookie(SESSION_COOKIE).expect("session")
                    ),
                )
                .header("content-type", "application/json")
                .body(ROLE_BODY);
            if let Some(h) = header {
                req = req.header("x-csrf-token", h);
            }
            let res = req.send().await.expect("request");
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{route} {header:?}");
            let json: serde_json::Value = res.json().await.expect("JSON");
            assert_eq!(json["error"], "csrf", "{route} {header:?}: {json}");
        }
    }
    assert_eq!(
        everything_that_a_post_can_change(&app).await,
        before,
        "a refused POST changed something"
    );
    assert_eq!(app.get("/").await.status, StatusCode::OK, "still signed in");

    // The login form: its CSRF token is a double-submit cookie. Without the cookie, with an
    // empty token, or with both empty, the right password is refused and no session starts.
    let browser = spawn_client_for(&app);
    let form_token = browser.get("/login").await.csrf_token();
    let cookie = browser
        .cookie("__Host-fedbroker-login-csrf")
        .expect("login CSRF cookie");
    for (cookie_value, token) in [
        (None, form_token.as_str()),
        (Some(cookie.as_str()), ""),
        (Some(""), ""),
        (None, ""),
        (Some(cookie.as_str()), "forged-token"),
    ] {
        let b = spawn_client_for(&app);
        if let Some(c) = cookie_value {
            b.set_cookie("__Host-fedbroker-login-csrf", Some(c));
        }
        let res = b
            .post_form(
                "/login",
                &[
                    ("username", "admin"),
                    ("password", "a-new-admin-password"),
                    ("csrf_token", token),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "login with cookie {cookie_value:?} and token {token:?}: {}",
            res.body
        );
        assert!(res.body.contains("Form expired"), "{}", res.body);
        assert!(b.cookie(SESSION_COOKIE).is_none(), "no session was started");
    }
}

on_both_backends!(every_state_changing_route_refuses_a_missing_empty_or_wrong_csrf_token);

// Attack: a value that a spreadsheet runs as a formula once the audit log is exported as CSV,
// hidden behind whitespace (LF, CR, space, tab) or written with full-width characters
// (＝ ＋ － ＠). Expected: every such field starts with `'` in the export.
async fn the_csv_export_defuses_formulas_behind_whitespace_and_full_width_signs(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login_as_admin().await;
    let hostile = [
        "\n=HYPERLINK(\"http://evil.example\")",
        "\r=1+1",
        " =1+1",
        "\t=1+1",
        "\u{FF1D}1+1",
        "\u{FF0B}1+1",
        "\u{FF0D}1+1",
        "\u{FF20}SUM(A1)",
        "=1+1",
    ];
    for subject in hostile {
        app.store
            .append_audit(
                &fedbroker::store::NewAuditEvent {
                    event_type: "signin".into(),
                    subject: subject.into(),
                    actor: "csv-probe".into(),
                    outcome: "failure".into(),
                    ..Default::default()
                },
                1,
            )
            .await
            .expect("event stored");
    }
    let export = app
        .get("/admin/audit/export?format=csv&user=csv-probe")
        .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    for subject in hostile {
        let quoted = subject.replace('"', "\"\"");
        assert!(
            export.body.contains(&format!(",\"'{quoted}\",")),
            "{subject:?} is not defused in:\n{}",
            export.body
        );
    }
}

// Attack: a path segment that is not a number (`/admin/rules/abc`, a token id of `x`).
// Expected: the broker's own HTML error page (400, with the request id and what is wrong),
// never actix's raw text `can not parse "abc" to a i64`.
async fn a_malformed_path_id_gets_the_error_page_not_raw_text(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login_as_admin().await;
    let csrf = app.get("/").await.csrf_token();
    for page in [
        app.get("/admin/rules/abc").await,
        app.get("/admin/rules/99999999999999999999999").await,
        app.post_form("/account/tokens/x/revoke", &[("csrf_token", &csrf)])
            .await,
    ] {
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
        let content_type = page.headers["content-type"].to_str().expect("ascii");
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert!(page.body.contains("Bad request"), "{}", page.body);
        assert!(page.body.contains("is not valid"), "{}", page.body);
        let request_id = page.headers["x-request-id"].to_str().expect("ascii");
        assert!(page.body.contains(request_id), "the page names the request");
        assert!(!page.body.starts_with("can not parse"), "{}", page.body);
    }
}

// Attack: a page framed or injected despite the CSP asks for the camera, microphone,
// location, payments or USB devices. Expected: every answer (pages, errors, JSON, static
// files) carries a Permissions-Policy that grants none of them.
async fn every_response_carries_a_permissions_policy_that_grants_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/login",
        "/no-such-page",
        "/healthz",
        "/api/v1/roles",
        "/static/style.css",
    ] {
        let page = app.get(path).await;
        let policy = page
            .headers
            .get("permissions-policy")
            .unwrap_or_else(|| panic!("{path} has no Permissions-Policy"))
            .to_str()
            .expect("ascii");
        for feature in ["camera", "microphone", "geolocation", "payment", "usb"] {
            assert!(
                policy.contains(&format!("{feature}=()")),
                "{path}: {feature} is not denied in {policy}"
            );
        }
    }
}

// Attack: an admin pins sign-in to one Region; a person picks another Region in the portal
// (or edits the form). Expected: the pin wins — the Response goes to the pinned Region, the
// page says the pin overrode the choice, and the portal offers only the pinned Region.
async fn an_admin_region_pin_wins_over_the_users_choice(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login_as_admin().await;
    let csrf = app.get("/admin/regions").await.csrf_token();
    let pinned = app
        .post_form(
            "/admin/regions",
            &[
                ("csrf_token", &csrf),
                ("action", "pin"),
                ("region", "us-east-1"),
            ],
        )
        .await;
    assert_eq!(pinned.status, StatusCode::SEE_OTHER, "{}", pinned.body);
    let alice = spawn_client_for(&app);
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    alice.login("alice", "alice-password-1").await;
    let portal = alice.get("/").await;
    assert!(
        portal
            .body
            .contains("us-east-1 (pinned by an administrator)"),
        "{}",
        portal.body
    );
    assert!(
        !portal.body.contains("<option value=\"us-west-2\">"),
        "only the pin is offered"
    );
    assert!(!portal.body.contains(">Automatic<"));
    let csrf = portal.csrf_token();
    let page = alice
        .post_form(
            "/saml/aws/sso",
            &[
                ("csrf_token", &csrf),
                ("role", ADMIN_ROLE),
                ("region", "us-west-2"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("id=\"region\">us-east-1<"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("https://us-east-1.signin.aws.amazon.com/saml"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("us-west-2.signin"), "{}", page.body);
    assert!(
        page.body.contains("the pin overrides the Region you chose"),
        "{}",
        page.body
    );
}

on_both_backends!(
    the_csv_export_defuses_formulas_behind_whitespace_and_full_width_signs,
    a_malformed_path_id_gets_the_error_page_not_raw_text,
    every_response_carries_a_permissions_policy_that_grants_nothing,
    an_admin_region_pin_wins_over_the_users_choice,
);

// Attack: another local account reads the SQLite database (password hashes, sessions, the
// audit log) or the key-encryption key. Expected: a fresh start creates the data folder 0700
// and the database, its -wal and -shm files and the key file 0600; a database an older start
// left 0644 is narrowed to 0600.
#[tokio::test]
async fn the_sqlite_database_and_its_folder_are_private_to_the_broker() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().expect("tempdir");
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    for (folder, old_file) in [("fresh", false), ("upgraded", true)] {
        let data = root.path().join(folder).join("data");
        let db = data.join("fedbroker.db");
        if old_file {
            std::fs::create_dir_all(&data).expect("folder");
            std::fs::write(&db, b"").expect("old database file");
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let env = vec![
            ("FEDBROKER__SERVER__PORT".to_string(), "0".to_string()),
            ("FEDBROKER__SERVER__WORKERS".to_string(), "1".to_string()),
            (
                "FEDBROKER__DATABASE__URL".to_string(),
                format!("sqlite://{}", db.display()),
            ),
        ];
        let source = fedbroker::config::ConfigSource {
            dir: Some(config_dir()),
            profile: None,
        };
        let settings = fedbroker::config::Settings::load(&source, env).expect("settings");
        let app = fedbroker::startup::Application::build(settings, Default::default())
            .await
            .expect("the broker starts");
        // A write, so that SQLite's write-ahead log is in use.
        let event = fedbroker::store::NewAuditEvent {
            event_type: "probe".into(),
            outcome: "success".into(),
            ..Default::default()
        };
        app.store().append_audit(&event, 1).await.expect("write");
        if !old_file {
            assert_eq!(mode(&data), 0o700, "the data folder");
        }
        for file in [
            "fedbroker.db",
            "fedbroker.db-wal",
            "fedbroker.db-shm",
            "saml-key-encryption.key",
        ] {
            assert_eq!(mode(&data.join(file)), 0o600, "{folder}: {file}");
        }
        app.store().close().await;
    }
}

// Structure: every POST handler gets its form through `CsrfForm`, so none can skip the check;
// the exceptions are the sign-in form (double-submit cookie: there is no session yet), the
// bearer-token API, which a browser never calls on its own, and the SAML ACS, whose proof is the
// identity provider's signature over an answer to this browser's request.
#[test]
fn every_post_handler_takes_its_form_through_the_csrf_extractor() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/routes");
    let table = std::fs::read_to_string(root.join("mod.rs")).expect("route table");
    let exempt = [
        "login::post_login",
        "api::post_credentials",
        "api::post_console_url",
        // A signed SAML response from an upstream provider, bound to the request this
        // browser started (see the CSRF table test).
        "saml_sp::post_acs",
        // The command-line client's token endpoint: no cookie is read (see the CSRF table).
        "oauth::post_token",
    ];
    let mut checked = 0;
    for (i, _) in table.match_indices("web::post().to(") {
        let handler: String = table[i + "web::post().to(".len()..]
            .chars()
            .take_while(|c| *c != ')')
            .collect();
        if exempt.contains(&handler.as_str()) {
            continue;
        }
        let (module, name) = handler.rsplit_once("::").expect("module::handler");
        let file = root.join(format!("{}.rs", module.replace("::", "/")));
        let source = std::fs::read_to_string(&file).expect("handler source");
        let start = source
            .find(&format!("pub async fn {name}("))
            .unwrap_or_else(|| panic!("{handler} is defined in {}", file.display()));
        let signature = &source[start..start + source[start..].find(") ->").expect("signature")];
        assert!(
            signature.contains("CsrfForm<"),
            "POST handler {handler} does not take its form through CsrfForm: {signature}"
        );
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} POST handlers found");
}
