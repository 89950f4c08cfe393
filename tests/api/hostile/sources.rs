//! Hostile inputs: sources.
//!
//! What an LDAP directory or an OpenID Provider sends must not be trusted further than the
//! broker's configuration says: admin rights, group snapshots kept by API tokens, e-mail
//! domains, userinfo answers, ID tokens, usernames, and the loopback exceptions of the
//! configuration. Each test names the attack and the refusal it must get, against the real
//! `slapd` and npm `oidc-provider` peers.

use reqwest::StatusCode;

use crate::helpers::{login_error, spawn_app_with, Backend, TestApp};
use crate::ldap::{ldap_app, ldap_login, source as ldap_source, Slapd};
use crate::oidc::{app_with_source, path_of, through_the_provider, Op};
use crate::on_both_backends;
use crate::peers::free_port;

const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/Admin";

/// Signs `login` in through the provider and returns the broker's answer to the callback.
async fn oidc_sign_in(app: &TestApp, port: u16, login: &str) -> crate::helpers::Page {
    let callback = through_the_provider(app, port, login).await;
    app.get(&path_of(app, &callback)).await
}

/// The newest audit events of a type, newest first.
async fn events(app: &TestApp, event_type: &str) -> Vec<fedbroker::store::AuditRecord> {
    app.store
        .audit_events(
            &fedbroker::store::AuditFilter {
                event_type: Some(event_type.into()),
                ..Default::default()
            },
            50,
        )
        .await
        .expect("audit events")
}

/// An API token with every scope for a user, as `/account/tokens` would create it.
async fn token_for(app: &TestApp, username: &str) -> String {
    let user = app
        .store
        .user_by_username(username)
        .await
        .expect("read")
        .expect("user exists");
    let scopes = ["roles".to_string(), "credentials".into(), "console".into()];
    let owner = fedbroker::auth::api_tokens::Owner {
        user_id: user.id,
        username,
    };
    let (_, secret) = fedbroker::auth::api_tokens::create(
        &app.store,
        owner,
        "laptop",
        30,
        &scopes,
        90,
        fedbroker::clock::now(),
    )
    .await
    .expect("token created");
    secret
}

// Attack: an OpenID Provider sends `groups: ["fedbroker-admins"]`, the name of the broker's
// local admin group. Expected: 403 on /admin; only a source's own `admin_group` grants admin,
// and the admin page then says where the right comes from.
async fn an_oidc_group_named_like_the_admin_group_does_not_make_an_admin(backend: Backend) {
    let port = free_port();
    let app = app_with_source(backend, port, |_| {}).await;
    let _op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    let done = oidc_sign_in(&app, port, "root").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", login_error(&done));
    let admin = app.get("/admin").await;
    assert_eq!(admin.status, StatusCode::FORBIDDEN, "{}", admin.body);
    assert!(admin.body.contains("local group"), "{}", admin.body);
    assert!(!app.get("/").await.body.contains("href=\"/admin\""));
    drop(_op);

    // The same provider, configured to make its `fedbroker-admins` admins: now it may.
    let port = free_port();
    let app = app_with_source(backend, port, |s| s.admin_group = "fedbroker-admins".into()).await;
    let _op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    assert_eq!(
        oidc_sign_in(&app, port, "root").await.status,
        StatusCode::SEE_OTHER
    );
    let admin = app.get("/admin").await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.body);
    assert!(
        admin
            .body
            .contains("admin via OIDC source `Example OP` (op), group `fedbroker-admins`"),
        "{}",
        admin.body
    );
    assert!(admin
        .body
        .contains("admin via local group `fedbroker-admins`"));
}

/// Adds the directory group `fedbroker-admins` with bob in it.
fn ldap_admin_group(slapd: &Slapd) {
    slapd.change(
        "ldapadd",
        "dn: cn=fedbroker-admins,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\n\
         cn: fedbroker-admins\nmember: uid=bob,ou=people,dc=example,dc=com\n",
    );
}

// Attack: an LDAP group named like the broker's admin group. Expected: 403 on /admin unless
// the source's `admin_group` names it.
async fn an_ldap_group_named_like_the_admin_group_does_not_make_an_admin(backend: Backend) {
    let slapd = Slapd::start().await;
    ldap_admin_group(&slapd);
    let app = ldap_app(backend, ldap_source(&slapd, false, "none", false)).await;
    let res = ldap_login(&app, "bob", "bob-ldap-pw").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", login_error(&res));
    assert!(app.get("/").await.body.contains("fedbroker-admins"));
    assert_eq!(app.get("/admin").await.status, StatusCode::FORBIDDEN);

    let mut trusted = ldap_source(&slapd, false, "none", false);
    trusted.admin_group = "fedbroker-admins".into();
    let app = ldap_app(backend, trusted).await;
    assert_eq!(
        ldap_login(&app, "bob", "bob-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    let admin = app.get("/admin").await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.body);
    assert!(
        admin.body.contains(
            "admin via LDAP source `Corporate directory` (corp), group `fedbroker-admins`"
        ),
        "{}",
        admin.body
    );
}

// Attack: none; the local grant must keep working. A local member of the admin group is an
// admin and the page says so; a local grant to a directory user survives their next sign-in
// even when the directory reports the same group.
async fn a_local_grant_of_the_admin_group_makes_an_admin_and_says_so(backend: Backend) {
    let slapd = Slapd::start().await;
    ldap_admin_group(&slapd);
    let app = ldap_app(backend, ldap_source(&slapd, false, "none", false)).await;
    app.create_user("carol", "carol-password-1", &["fedbroker-admins"])
        .await;
    assert_eq!(
        app.login("carol", "carol-password-1").await.status,
        StatusCode::SEE_OTHER
    );
    let page = app.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    let carol_row = page
        .body
        .split("<tr>")
        .find(|r| r.contains(">carol</a></td>"))
        .expect("carol listed");
    assert!(
        carol_row.contains("admin via local group `fedbroker-admins`"),
        "{carol_row}"
    );

    let bob = crate::helpers::spawn_client_for(&app);
    assert_eq!(
        ldap_login(&bob, "bob", "bob-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(bob.get("/admin").await.status, StatusCode::FORBIDDEN);
    app.store
        .set_membership(
            "fedbroker-admins",
            "bob",
            true,
            &fedbroker::store::AccountChange::by("test", fedbroker::clock::now()),
        )
        .await
        .expect("granted locally");
    let again = crate::helpers::spawn_client_for(&app);
    assert_eq!(
        ldap_login(&again, "bob", "bob-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    let page = again.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK, "the local grant survives");
    let bob_row = page
        .body
        .split("<tr>")
        .find(|r| r.contains(">bob</a></td>"))
        .expect("bob listed");
    assert!(
        bob_row.contains("admin via local group `fedbroker-admins`"),
        "{bob_row}"
    );
}

// Attack: someone removed from a group (or from the directory) keeps the role through an API
// token made before. Expected: the token's use re-reads the directory: the role is gone at
// once, then the deleted account's token gets 401 `account_gone`; each decision is audited.
async fn a_token_of_an_ldap_user_loses_a_role_removed_in_the_directory(backend: Backend) {
    let slapd = Slapd::start().await;
    let app = ldap_app(backend, ldap_source(&slapd, false, "none", false)).await;
    assert_eq!(
        ldap_login(&app, "alice", "alice-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    let token = token_for(&app, "alice").await;
    let (status, body) = super::sessions::roles_with(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.to_string().contains(ADMIN_ROLE), "{body}");

    slapd.change(
        "ldapmodify",
        "dn: cn=AWS-123456789012-Admin,ou=groups,dc=example,dc=com\nchangetype: modify\n\
         add: member\nmember: uid=bob,ou=people,dc=example,dc=com\n-\n\
         delete: member\nmember: uid=alice,ou=people,dc=example,dc=com\n",
    );
    let (status, body) = super::sessions::roles_with(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        !body.to_string().contains(ADMIN_ROLE),
        "the role removed in the directory is gone: {body}"
    );
    let allowed = events(&app, "api_token").await;
    assert!(
        allowed.iter().any(|e| e.outcome == "success"
            && e.subject == "alice"
            && e.details.contains("source_recheck")),
        "{allowed:?}"
    );

    slapd.change("ldapdelete", "uid=alice,ou=people,dc=example,dc=com\n");
    let (status, body) = super::sessions::roles_with(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "account_gone", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no longer lists this account"),
        "{body}"
    );
    let refused = events(&app, "api_token").await;
    assert!(
        refused
            .iter()
            .any(|e| e.outcome == "failure" && e.details.contains("account_gone")),
        "{refused:?}"
    );
}

// Attack: an OIDC user's token acts on the groups of a sign-in long ago (the provider cannot be
// asked without them). Expected: after `reauth_after_secs` since the last browser sign-in, 401
// `reauth_required` telling them to sign in again; audited; a new sign-in makes it work again.
async fn a_token_of_an_oidc_user_is_refused_long_after_the_last_sign_in(backend: Backend) {
    let port = free_port();
    let app = app_with_source(backend, port, |s| s.reauth_after_secs = 3600).await;
    let _op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    assert_eq!(
        oidc_sign_in(&app, port, "alice").await.status,
        StatusCode::SEE_OTHER
    );
    let token = token_for(&app, "alice").await;
    let (status, body) = super::sessions::roles_with(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let two_hours_ago = fedbroker::clock::now() - 7200;
    app.execute(&format!(
        "UPDATE users SET last_login_at = {two_hours_ago} WHERE username = 'alice'"
    ))
    .await;
    let (status, body) = super::sessions::roles_with(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "reauth_required", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("more than 1 hours ago") && message.contains("sign in again"),
        "{message}"
    );
    let refused = events(&app, "api_token").await;
    assert!(
        refused
            .iter()
            .any(|e| e.outcome == "failure" && e.details.contains("reauth_required")),
        "{refused:?}"
    );

    assert_eq!(
        oidc_sign_in(&app, port, "alice").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        super::sessions::roles_with(&app, &token).await.0,
        StatusCode::OK
    );
}

// Attack: an account at the provider with an unverified address in an allowed domain.
// Expected: 403 naming email_verified; nobody provisioned. A source that sets
// `trust_unverified_email` (providers that never send the claim) lets the address count.
async fn an_unverified_email_does_not_pass_the_domain_gate(backend: Backend) {
    let port = free_port();
    let app = app_with_source(backend, port, |s| {
        s.allowed_domains = vec!["op.example.com".into()]
    })
    .await;
    let _op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    let res = oidc_sign_in(&app, port, "carol").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert!(
        login_error(&res).contains("email_verified"),
        "{}",
        login_error(&res)
    );
    assert_eq!(app.store.count_users().await.expect("count"), 1);
    let verified = oidc_sign_in(&app, port, "bob").await;
    assert_eq!(verified.status, StatusCode::SEE_OTHER, "a verified address");
    drop(_op);

    let port = free_port();
    let app = app_with_source(backend, port, |s| {
        s.allowed_domains = vec!["op.example.com".into()];
        s.trust_unverified_email = true;
    })
    .await;
    let _op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    assert_eq!(
        oidc_sign_in(&app, port, "carol").await.status,
        StatusCode::SEE_OTHER
    );
}

// Attack: the userinfo answer names another subject than the ID token (its groups would be
// merged into this person). Expected: 502 saying userinfo was for another subject; nobody
// provisioned; the reason audited.
async fn userinfo_for_another_subject_is_refused(backend: Backend) {
    let port = free_port();
    let app = app_with_source(backend, port, |_| {}).await;
    let _op = Op::start(port, &app.address, 600, "userinfo", "127.0.0.1").await;
    let res = oidc_sign_in(&app, port, "mallory").await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.body);
    let message = login_error(&res);
    assert!(
        message.contains("userinfo for another subject (`other-subject`)")
            && message.contains("(`mallory`)"),
        "{message}"
    );
    assert_eq!(app.store.count_users().await.expect("count"), 1);
    assert!(events(&app, "signin")
        .await
        .iter()
        .any(|e| e.outcome == "failure" && e.details.contains("another subject")));
}

/// Sets the provider's forgery mode, signs in, and returns the login error and the audited
/// reason.
async fn forged_id_token(backend: Backend, mode: &str) -> (StatusCode, String, String, u64) {
    let port = free_port();
    let app = app_with_source(backend, port, |_| {}).await;
    let _op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    let control = format!("http://127.0.0.1:{port}");
    let callback = through_the_provider(&app, port, "alice").await;
    let jwks_before = reqwest::get(format!("{control}/test-stats"))
        .await
        .expect("stats")
        .json::<serde_json::Value>()
        .await
        .expect("json")["jwks"]
        .as_u64()
        .unwrap_or_default();
    reqwest::get(format!("{control}/test-tamper?mode={mode}"))
        .await
        .expect("tamper set");
    let res = app.get(&path_of(&app, &callback)).await;
    let jwks_after = reqwest::get(format!("{control}/test-stats"))
        .await
        .expect("stats")
        .json::<serde_json::Value>()
        .await
        .expect("json")["jwks"]
        .as_u64()
        .unwrap_or_default();
    assert_eq!(
        app.store.count_users().await.expect("count"),
        1,
        "nobody provisioned"
    );
    let audited = events(&app, "signin")
        .await
        .into_iter()
        .find(|e| e.outcome == "failure")
        .map(|e| e.details)
        .unwrap_or_default();
    (
        res.status,
        login_error(&res),
        audited,
        jwks_after - jwks_before,
    )
}

// Attack: an ID token issued to another client (audience), re-signed with the provider's own
// key. Expected: 502, the reason names the audience, shown and audited.
async fn an_id_token_for_another_audience_is_refused(backend: Backend) {
    let (status, shown, audited, _) = forged_id_token(backend, "aud").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    for text in [&shown, &audited] {
        assert!(
            text.contains("ID token from Example OP is not valid")
                && text.contains("another-client"),
            "{text}"
        );
        assert!(text.to_lowercase().contains("audience"), "{text}");
    }
}

// Attack: an ID token whose signature was altered. Expected: 502, the reason names the
// signature, shown and audited.
async fn an_id_token_with_a_bad_signature_is_refused(backend: Backend) {
    let (status, shown, audited, _) = forged_id_token(backend, "sig").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    for text in [&shown, &audited] {
        assert!(
            text.contains("ID token from Example OP is not valid")
                && text.contains("its signature does not verify"),
            "{text}"
        );
    }
}

// Attack: an ID token signed with a key the provider never published (a forger's key with a
// fresh kid). Expected: the broker fetches the JWKS once more (it might be a rotation), finds no
// such key, and refuses with 502 naming the missing key, shown and audited.
async fn an_id_token_signed_with_an_unpublished_key_is_refused_after_a_jwks_refetch(
    backend: Backend,
) {
    let (status, shown, audited, refetches) = forged_id_token(backend, "kid").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(refetches, 1, "the JWKS was fetched again, once");
    for text in [&shown, &audited] {
        assert!(
            text.contains("ID token from Example OP is not valid")
                && text.contains("signed with a key the provider does not publish"),
            "{text}"
        );
    }
}

// Attack: an ID token naming another issuer inside, signed with the provider's key. Expected:
// 502, the reason names the issuer found, shown and audited.
async fn an_id_token_naming_another_issuer_is_refused(backend: Backend) {
    let (status, shown, audited, _) = forged_id_token(backend, "iss").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    for text in [&shown, &audited] {
        assert!(
            text.contains("ID token from Example OP is not valid")
                && text.contains("issuer.evil.example"),
            "{text}"
        );
    }
}

// Attack: a provider (or directory) reports `DANA` for a person the broker knows as `dana`,
// or a name with a right-to-left override that displays as another. Expected: names are
// stored lowercased (NFKC), and a name with control/direction characters is refused with a
// clear sign-in error and not stored.
async fn usernames_from_a_source_are_folded_and_hidden_characters_refused(backend: Backend) {
    let port = free_port();
    let app = app_with_source(backend, port, |_| {}).await;
    let _op = Op::start(port, &app.address, 600, "id-token", "127.0.0.1").await;
    assert_eq!(
        oidc_sign_in(&app, port, "dana").await.status,
        StatusCode::SEE_OTHER
    );
    assert!(app
        .store
        .user_by_username("dana")
        .await
        .expect("read")
        .is_some());
    assert!(app
        .store
        .user_by_username("DANA")
        .await
        .expect("read")
        .is_none());

    let res = oidc_sign_in(&app, port, "eve").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    let message = login_error(&res);
    assert!(
        message.contains("control or text-direction character (U+202E)"),
        "{message}"
    );
    assert_eq!(
        app.store.count_users().await.expect("count"),
        2,
        "admin and dana only"
    );
}

/// Loads the configuration with a profile file holding `toml`.
fn load_with(toml: &str) -> Result<fedbroker::config::Settings, String> {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("attack.toml"), toml).expect("profile");
    let source = fedbroker::config::ConfigSource {
        dir: Some(dir.path().to_path_buf()),
        profile: Some("attack".into()),
    };
    fedbroker::config::Settings::load(&source, Vec::<(String, String)>::new())
        .map_err(|e| e.to_string())
}

// Attack: host names that merely start with a loopback address or `localhost`
// (`ldap://localhost.evil.example`, issuer `http://127.0.0.1.evil.example`) to get past the
// plain-text exceptions for loopback. Expected: refused at start-up, the setting named; true
// loopback addresses still pass.
#[tokio::test]
async fn lookalike_loopback_hosts_are_not_loopback() {
    let ldap = |url: &str| {
        format!(
            "[[sources.ldap]]\nid = \"corp\"\nname = \"Corp\"\nurl = \"{url}\"\n\
             bind_dn = \"cn=x\"\nuser_base = \"dc=x\"\n"
        )
    };
    let oidc = |issuer: &str| {
        format!(
            "[[sources.oidc]]\nid = \"op\"\nname = \"OP\"\nissuer = \"{issuer}\"\nclient_id = \"c\"\n"
        )
    };
    for url in [
        "ldap://localhost.evil.example:389",
        "ldap://127.0.0.1.evil.example",
        "ldap://evil.example/?://127.0.0.1",
    ] {
        let err = load_with(&ldap(url)).expect_err(url);
        assert!(err.contains("clear text"), "{url}: {err}");
    }
    for issuer in [
        "http://127.0.0.1.evil.example",
        "http://localhost.evil.example",
        "http://localhostevil.example",
    ] {
        let err = load_with(&oidc(issuer)).expect_err(issuer);
        assert!(err.contains("must be an https:// URL"), "{issuer}: {err}");
    }
    for url in [
        "ldap://localhost:389",
        "ldap://127.0.0.1:389",
        "ldap://[::1]",
    ] {
        assert!(load_with(&ldap(url)).is_ok(), "{url}");
    }
    for issuer in ["http://127.0.0.1:9000", "http://localhost:9000"] {
        assert!(load_with(&oidc(issuer)).is_ok(), "{issuer}");
    }
}

// Attack: anyone calls /readyz in a loop to make the broker bind to the directory per request,
// and reads the directory's error text. Expected: one bind serves many calls (probe cached),
// and a failing directory shows only `degraded`.
async fn readiness_checks_do_not_bind_per_request_or_show_directory_errors(backend: Backend) {
    let slapd = Slapd::start().await;
    let mut src = ldap_source(&slapd, false, "none", false);
    src.bind_password = fedbroker::domain::secret::Secret::new("not-the-service-password".into());
    let app = spawn_app_with(backend, move |s| s.sources.ldap = vec![src]).await;
    let before = slapd.binds().await;
    for _ in 0..10 {
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status, StatusCode::OK);
        let health: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
        assert_eq!(health["sources"]["corp"]["status"], "degraded", "{health}");
        assert_eq!(
            health["sources"]["corp"],
            serde_json::json!({"kind": "ldap", "status": "degraded"}),
            "no directory error text: {health}"
        );
    }
    let binds = slapd.binds().await - before;
    assert_eq!(binds, 1, "ten readiness checks, one bind");
}

// Attack: time sign-ins to learn which usernames exist (an unknown user used to skip the user
// bind). Expected: an unknown user costs the same number of binds as a wrong password.
async fn an_unknown_ldap_user_costs_the_same_binds_as_a_wrong_password(backend: Backend) {
    let slapd = Slapd::start().await;
    let app = ldap_app(backend, ldap_source(&slapd, false, "none", false)).await;
    let start = slapd.binds().await;
    let wrong = ldap_login(&app, "alice", "not-her-password").await;
    let after_wrong = slapd.binds().await;
    let unknown = ldap_login(&app, "nobody-here", "not-her-password").await;
    let after_unknown = slapd.binds().await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login_error(&wrong), login_error(&unknown));
    assert_eq!(
        after_unknown - after_wrong,
        after_wrong - start,
        "binds for an unknown user and for a wrong password"
    );
}

on_both_backends!(
    an_oidc_group_named_like_the_admin_group_does_not_make_an_admin,
    an_ldap_group_named_like_the_admin_group_does_not_make_an_admin,
    a_local_grant_of_the_admin_group_makes_an_admin_and_says_so,
    a_token_of_an_ldap_user_loses_a_role_removed_in_the_directory,
    a_token_of_an_oidc_user_is_refused_long_after_the_last_sign_in,
    an_unverified_email_does_not_pass_the_domain_gate,
    userinfo_for_another_subject_is_refused,
    an_id_token_for_another_audience_is_refused,
    an_id_token_with_a_bad_signature_is_refused,
    an_id_token_signed_with_an_unpublished_key_is_refused_after_a_jwks_refetch,
    an_id_token_naming_another_issuer_is_refused,
    usernames_from_a_source_are_folded_and_hidden_characters_refused,
    readiness_checks_do_not_bind_per_request_or_show_directory_errors,
    an_unknown_ldap_user_costs_the_same_binds_as_a_wrong_password,
);
