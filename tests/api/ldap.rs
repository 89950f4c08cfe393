//! Sign-in through LDAP against a real `slapd` (Debian's) started in a temp dir: users and
//! `groupOfNames` groups, memberOf, StartTLS with a test CA, nested groups, injection attempts,
//! and the directory stopping mid-run.

use reqwest::StatusCode;

use crate::helpers::{login_error, spawn_app_with, Backend, TestApp};
use crate::on_both_backends;
pub use crate::peers::slapd::Slapd;
use crate::peers::slapd::SUFFIX;

/// The source as `[[sources.ldap]]` would give it.
pub fn source(
    slapd: &Slapd,
    starttls: bool,
    nested: &str,
    memberof: bool,
) -> fedbroker::config::LdapSource {
    let toml = format!(
        "id = \"corp\"\nname = \"Corporate directory\"\nurl = \"{}\"\nstarttls = {starttls}\nca_file = \"{}\"\n\
         bind_dn = \"cn=fedbroker,{SUFFIX}\"\nbind_password = \"service-pw\"\nuser_base = \"ou=people,{SUFFIX}\"\n\
         group_base = \"{}\"\nnested_groups = \"{nested}\"\ntimeout_secs = 2\n",
        slapd.url(),
        if starttls { slapd.ca_file.as_str() } else { "" },
        if memberof { String::new() } else { format!("ou=groups,{SUFFIX}") },
    );
    toml::from_str(&toml).expect("source parses")
}

pub async fn ldap_app(backend: Backend, src: fedbroker::config::LdapSource) -> TestApp {
    spawn_app_with(backend, move |s| s.sources.ldap = vec![src]).await
}

/// Submits the login form for the LDAP source.
pub async fn ldap_login(app: &TestApp, username: &str, password: &str) -> crate::helpers::Page {
    let form = app.get("/login").await;
    assert!(
        form.body.contains("Corporate directory"),
        "the source is listed"
    );
    let token = form.csrf_token();
    app.post_form(
        "/login",
        &[
            ("source", "corp"),
            ("username", username),
            ("password", password),
            ("csrf_token", &token),
            ("next", "/"),
        ],
    )
    .await
}

async fn ldap_users_sign_in_with_their_groups_and_see_their_roles(backend: Backend) {
    let slapd = Slapd::start().await;
    let app = ldap_app(backend, source(&slapd, true, "recursive", false)).await;
    let res = ldap_login(&app, "alice", "alice-ldap-pw").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let portal = app.get("/").await;
    assert!(portal.body.contains("Alice Ldap"), "{}", portal.body);
    for group in [
        "AWS-123456789012-Admin",
        "engineering",
        "AWS-210987654321-Dev",
    ] {
        assert!(
            portal.body.contains(group),
            "{group} (nested through engineering)"
        );
    }
    assert!(portal.body.contains("arn:aws:iam::123456789012:role/Admin"));
    assert!(portal.body.contains("arn:aws:iam::210987654321:role/Dev"));

    // Provisioned with the source and its subject; the next sign-in updates, not duplicates.
    let user = app
        .store
        .user_by_username("alice")
        .await
        .expect("read")
        .expect("provisioned");
    assert!(
        user.password_hash.is_none(),
        "no local password for LDAP users"
    );
    let again = crate::helpers::spawn_client_for(&app);
    assert_eq!(
        ldap_login(&again, "alice", "alice-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.store.count_users().await.expect("count"),
        2,
        "admin and alice"
    );

    // The admin dry run reads the snapshot of alice's groups.
    let admin = crate::helpers::spawn_client_for(&app);
    admin.login_as_admin().await;
    let dry = admin.get("/admin/test?username=alice").await;
    assert!(
        dry.body.contains("arn:aws:iam::210987654321:role/Dev"),
        "{}",
        dry.body
    );

    // Sign-in events say which source.
    let events = app
        .store
        .audit_events(
            &fedbroker::store::AuditFilter {
                event_type: Some("signin".into()),
                user: Some("alice".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .expect("events");
    assert!(events
        .iter()
        .all(|e| e.details.contains("\"source\":\"corp\"")));
}

async fn memberof_gives_direct_groups_only(backend: Backend) {
    let slapd = Slapd::start().await;
    let app = ldap_app(backend, source(&slapd, false, "none", true)).await;
    assert_eq!(
        ldap_login(&app, "bob", "bob-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    let portal = app.get("/").await;
    assert!(portal.body.contains("engineering"));
    assert!(
        !portal.body.contains("AWS-210987654321-Dev"),
        "no nesting asked for"
    );
}

async fn wrong_unknown_empty_and_injected_credentials_are_refused_alike(backend: Backend) {
    let slapd = Slapd::start().await;
    let app = ldap_app(backend, source(&slapd, false, "none", false)).await;
    let wrong = ldap_login(&app, "alice", "not-her-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let unknown = ldap_login(&app, "mallory", "whatever-password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        login_error(&wrong),
        login_error(&unknown),
        "never tells whether a user exists"
    );
    let empty = ldap_login(&app, "alice", "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(login_error(&empty).contains("Enter your password"));
    for injected in ["*", "alice)(uid=*", "*)(|(uid=*", "al*"] {
        let res = ldap_login(&app, injected, "alice-ldap-pw").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{injected}");
    }
    assert_eq!(
        app.store.count_users().await.expect("count"),
        1,
        "nobody was provisioned"
    );
}

async fn a_stopped_directory_gives_a_clear_error_and_local_sign_in_still_works(backend: Backend) {
    let mut slapd = Slapd::start().await;
    let app = ldap_app(backend, source(&slapd, false, "none", false)).await;
    let ready = app.get("/readyz").await;
    let health: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
    assert_eq!(health["sources"]["corp"]["status"], "up", "{health}");

    slapd.stop();
    let res = ldap_login(&app, "alice", "alice-ldap-pw").await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        login_error(&res).contains("cannot be reached"),
        "{}",
        res.body
    );
    let ready = app.get("/readyz").await;
    assert_eq!(
        ready.status,
        StatusCode::OK,
        "the broker still serves other sources"
    );
    let health: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["sources"]["corp"]["status"], "degraded");

    app.create_user("carol", "carol-password-1", &["AWS-123456789012-Admin"])
        .await;
    let local = crate::helpers::spawn_client_for(&app);
    assert_eq!(
        local.login("carol", "carol-password-1").await.status,
        StatusCode::SEE_OTHER,
        "the local directory keeps working"
    );

    slapd.run().await;
    assert_eq!(
        ldap_login(&app, "alice", "alice-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
}

async fn a_locally_disabled_ldap_user_stays_locked_out(backend: Backend) {
    let slapd = Slapd::start().await;
    let app = ldap_app(backend, source(&slapd, false, "none", false)).await;
    assert_eq!(
        ldap_login(&app, "alice", "alice-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    app.execute("UPDATE users SET disabled = TRUE WHERE username = 'alice'")
        .await;
    let again = crate::helpers::spawn_client_for(&app);
    let res = ldap_login(&again, "alice", "alice-ldap-pw").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(login_error(&res).contains("disabled"));
    // A local user of the same name is never merged with the directory's.
    app.create_user("bob", "bob-local-password", &[]).await;
    let bob = ldap_login(&again, "bob", "bob-ldap-pw").await;
    assert_eq!(bob.status, StatusCode::FORBIDDEN);
    assert!(login_error(&bob).contains("already belongs to another account"));
}

async fn directory_attributes_reach_the_assertion_templates(backend: Backend) {
    let slapd = Slapd::start().await;
    let mut src = source(&slapd, false, "none", false);
    src.extra_attributes = vec!["employeeNumber".into()];
    let app = spawn_app_with(backend, move |s| {
        s.sources.ldap = vec![src];
        s.saml.principal_tags = vec!["Employee={attr:employeeNumber}".into()];
    })
    .await;
    assert_eq!(
        ldap_login(&app, "alice", "alice-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    let admin = crate::helpers::spawn_client_for(&app);
    admin.login_as_admin().await;
    let dry = admin.get("/admin/test?username=alice").await;
    let xml = dry
        .body
        .split("id=\"assertion-xml\">")
        .nth(1)
        .expect("assertion shown")
        .lines()
        .map(str::trim)
        .collect::<String>()
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"");
    assert!(
        xml.contains("PrincipalTag:Employee\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\"><saml:AttributeValue>1001<"),
        "{xml}"
    );
}

async fn starttls_checks_the_directory_certificate(backend: Backend) {
    let slapd = Slapd::start().await;
    let mut untrusted = source(&slapd, true, "none", false);
    untrusted.ca_file = String::new();
    let app = ldap_app(backend, untrusted).await;
    let res = ldap_login(&app, "alice", "alice-ldap-pw").await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a certificate from an unknown CA is refused"
    );
    assert_eq!(app.store.count_users().await.expect("count"), 1);
}

on_both_backends!(
    directory_attributes_reach_the_assertion_templates,
    starttls_checks_the_directory_certificate,
    ldap_users_sign_in_with_their_groups_and_see_their_roles,
    memberof_gives_direct_groups_only,
    wrong_unknown_empty_and_injected_credentials_are_refused_alike,
    a_stopped_directory_gives_a_clear_error_and_local_sign_in_still_works,
    a_locally_disabled_ldap_user_stays_locked_out,
);
