//! Hostile inputs: what reaches AWS — session names and source identities (what CloudTrail
//! attributes actions to), landing pages (RelayState and the federation Destination) and deny
//! rules.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, spawn_client_for, Backend, TestApp};
use crate::ldap::{source, Slapd};
use crate::on_both_backends;
use crate::saml::pysaml2_accepts;
use crate::saml_flow::{autopost_form, SignInEndpoint};

const OPS_ROLE: &str = "arn:aws:iam::123456789012:role/Ops";
const ATTR: &str = "https://aws.amazon.com/SAML/Attributes/";

/// Directory people whose names collide with local ones once sanitised, or look like
/// templates, all in the group that grants the Ops role.
const HOSTILE_PEOPLE: &str = "dn: uid=bob smith,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: bob smith
cn: Bob Smith
sn: Smith
mail: bob.smith@ldap.example.com
userPassword: bob-smith-ldap-pw

dn: uid=z{email},ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: z{email}
cn: Zed
sn: Zed
mail: admin@example.com
userPassword: zed-ldap-pw

dn: cn=AWS-123456789012-Ops,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: AWS-123456789012-Ops
member: uid=bob smith,ou=people,dc=example,dc=com
member: uid=z{email},ou=people,dc=example,dc=com
member: uid=bob,ou=people,dc=example,dc=com
";

fn ldapadd(slapd: &Slapd, ldif: &str) {
    let out = Command::new("ldapadd")
        .args(["-x", "-H", &slapd.url(), "-D", "cn=admin,dc=example,dc=com"])
        .args(["-w", "slapd-admin-pw"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(ldif.as_bytes())?;
            c.wait_with_output()
        })
        .expect("ldapadd runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs a person in (local or through the `corp` directory) in a browser of their own,
/// presses Console for the Ops role and returns (RoleSessionName, SourceIdentity) as the
/// pysaml2 sign-in endpoint read them from the verified assertion.
async fn names_sent_for(
    app: &TestApp,
    source: &str,
    username: &str,
    password: &str,
    metadata: &std::path::Path,
) -> (String, String) {
    let person = spawn_client_for(app);
    let token = person.get("/login").await.csrf_token();
    let res = person
        .post_form(
            "/login",
            &[
                ("source", source),
                ("username", username),
                ("password", password),
                ("csrf_token", &token),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::SEE_OTHER,
        "{username}: {}",
        res.body
    );
    let token = person.get("/").await.csrf_token();
    let page = person
        .post_form(
            "/saml/aws/sso",
            &[("csrf_token", &token), ("role", OPS_ROLE), ("region", "")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{username}: {}", page.body);
    let (action, saml, _) = autopost_form(&page.body);
    let (ok, out) = pysaml2_accepts(&saml, &action, metadata, true);
    assert!(ok, "{username}: {out}");
    let summary: serde_json::Value =
        serde_json::from_str(out.lines().last().unwrap_or_default()).expect("summary");
    let value = |name: &str| {
        summary["attributes"][format!("{ATTR}{name}")][0]
            .as_str()
            .unwrap_or_else(|| panic!("{name} sent for {username}: {summary}"))
            .to_string()
    };
    (value("RoleSessionName"), value("SourceIdentity"))
}

/// Attack: a directory user named `bob smith` got the SourceIdentity `bob-smith` of the local
/// user `bob-smith` (and `bob` could pose as a local `bob@corp`), and a username `z{email}`
/// was expanded a second time into `zadmin@example.com`. Expected: every person gets their
/// own RoleSessionName and SourceIdentity; directory people carry `@corp`, rewritten names a
/// hash, and a username is never read as a template.
async fn directory_users_cannot_take_a_local_users_source_identity(backend: Backend) {
    let slapd = Slapd::start().await;
    ldapadd(&slapd, HOSTILE_PEOPLE);
    let src = source(&slapd, false, "none", false);
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("md.xml");
    let endpoint = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let acs = vec![format!("us-east-2={}", endpoint.url)];
    let app = spawn_app_with(backend, move |s| {
        s.sources.ldap = vec![src];
        s.regions.acs = crate::helpers::entries(acs);
    })
    .await;
    std::fs::write(&metadata, app.get("/saml/metadata").await.body).expect("metadata");
    app.regions.probe_all(fedbroker::clock::now()).await;
    for local in ["bob-smith", "bob@corp"] {
        app.create_user(local, "local-password-1", &["AWS-123456789012-Ops"])
            .await;
    }

    let local_bob_smith =
        names_sent_for(&app, "local", "bob-smith", "local-password-1", &metadata).await;
    let local_bob_at_corp =
        names_sent_for(&app, "local", "bob@corp", "local-password-1", &metadata).await;
    let corp_bob_smith =
        names_sent_for(&app, "corp", "bob smith", "bob-smith-ldap-pw", &metadata).await;
    let corp_bob = names_sent_for(&app, "corp", "bob", "bob-ldap-pw", &metadata).await;
    let corp_zed = names_sent_for(&app, "corp", "z{email}", "zed-ldap-pw", &metadata).await;

    assert_ne!(
        corp_bob_smith.1, local_bob_smith.1,
        "`bob smith` from the directory is not the local `bob-smith`"
    );
    assert!(
        !corp_zed.1.contains("admin"),
        "a username is never expanded as a template: {corp_zed:?}"
    );
    assert_eq!(local_bob_smith.1, "bob-smith", "a clean local name is kept");
    assert_eq!(
        corp_bob.1, "bob@corp",
        "directory people carry the source suffix"
    );
    assert!(
        corp_bob_smith.1.starts_with("bob-smith-") && corp_bob_smith.1.ends_with("@corp"),
        "a rewritten name is marked with a hash: {corp_bob_smith:?}"
    );
    assert!(
        local_bob_at_corp.1.starts_with("bob@corp-"),
        "a local name ending in a source's suffix is rewritten: {local_bob_at_corp:?}"
    );
    assert!(
        corp_zed.1.starts_with("z-email--") && !corp_zed.1.contains("admin"),
        "a username is never expanded as a template: {corp_zed:?}"
    );
    let all = [
        &local_bob_smith,
        &local_bob_at_corp,
        &corp_bob_smith,
        &corp_bob,
        &corp_zed,
    ];
    for (i, a) in all.iter().enumerate() {
        assert_eq!(
            a.0, a.1,
            "RoleSessionName and SourceIdentity use one template"
        );
        for b in &all[i + 1..] {
            assert_ne!(a.1, b.1, "two people share a SourceIdentity");
        }
    }
}

/// Posts the new-rule form as an admin.
async fn new_rule(admin: &TestApp, fields: &[(&str, &str)]) -> crate::helpers::Page {
    let token = admin.get("/admin/rules/new").await.csrf_token();
    let mut form = vec![("csrf_token", token.as_str()), ("enabled", "on")];
    form.extend_from_slice(fields);
    admin.post_form("/admin/rules/new", &form).await
}

/// The error shown beside the landing-page field.
/// Submits the rule "Landing" (group `landing-team`, role `Landing`) with this landing page.
async fn landing_rule(admin: &TestApp, url: &str) -> crate::helpers::Page {
    new_rule(
        admin,
        &[
            ("name", "Landing"),
            ("effect", "allow"),
            ("pattern", "landing-team"),
            ("role", "arn:aws:iam::123456789012:role/Landing"),
            ("relay_state", url),
        ],
    )
    .await
}

fn relay_state_error(page: &crate::helpers::Page) -> String {
    page.body
        .split("id=\"error-relay_state\">")
        .nth(1)
        .and_then(|r| r.split("</p>").next())
        .unwrap_or_default()
        .to_string()
}

/// Attack: `https://evil.example\.console.aws.amazon.com/` passed the text check of a rule's
/// landing page (browsers read the backslash as a slash, so the host is `evil.example`) and
/// was sent as RelayState and as the federation Destination. Expected: the form refuses it,
/// and every other disguise (user info, port, plain http, another partition's console, a
/// look-alike host), naming the host it saw; so does a rules file.
async fn a_landing_page_that_hides_another_host_is_refused(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.login_as_admin().await;
    for (url, reason) in [
        (
            r"https://evil.example\.console.aws.amazon.com/",
            "its host `evil.example` is not console.aws.amazon.com",
        ),
        (
            "https://evil.example%5c.console.aws.amazon.com/",
            "is not a URL",
        ),
        (
            "https://console.aws.amazon.com@evil.example/",
            "must not carry a user name or password",
        ),
        (
            "https://evil.example@console.aws.amazon.com/",
            "must not carry a user name or password",
        ),
        (
            "https://console.aws.amazon.com:8443/",
            "must not name a port",
        ),
        ("http://console.aws.amazon.com/", "must start with https://"),
        (
            "https://console.aws.amazon.com.evil.example/",
            "its host `console.aws.amazon.com.evil.example`",
        ),
        (
            "https://console.amazonaws-us-gov.com/",
            "its host `console.amazonaws-us-gov.com` is not console.aws.amazon.com",
        ),
    ] {
        let page = landing_rule(&app, url).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{url}: {}", page.body);
        let error = relay_state_error(&page);
        assert!(
            error.contains("is not an AWS console address") && error.contains(reason),
            "{url}: {error}"
        );
    }
    assert!(
        !app.get("/admin/rules").await.body.contains("Landing"),
        "no rule was saved"
    );
    let yaml = "version: 1\nrules:\n- name: Landing\n  match: landing-team\n  role: arn:aws:iam::123456789012:role/Landing\n  relay_state: https://evil.example\\.console.aws.amazon.com/\n";
    let refused =
        fedbroker::mapping::RulesDocument::from_yaml(yaml, fedbroker::domain::aws::Partition::Aws)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
    assert!(
        refused.contains("relay_state") && refused.contains("its host `evil.example`"),
        "{refused}"
    );
    // The real console, and a Region's, are still accepted.
    let page = landing_rule(
        &app,
        "https://eu-west-1.console.aws.amazon.com/s3/home?region=eu-west-1",
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

/// Attack: a deny rule `contractors` → `arn:aws:iam::*:role/*landing*` left `role/Landing`
/// granted, because deny globs compared case exactly while group patterns ignore it. Expected:
/// the role is removed (not in the portal, refused at Console), and the rule form says the
/// case-sensitive box governs deny patterns too.
async fn a_lower_case_deny_pattern_removes_a_capitalised_role(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.login_as_admin().await;
    let page = new_rule(
        &app,
        &[
            ("name", "No landing for contractors"),
            ("effect", "deny"),
            ("pattern", "contractors"),
            ("role", "arn:aws:iam::*:role/*landing*"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    app.create_user(
        "carol",
        "carol-password-1",
        &[
            "AWS-123456789012-Landing",
            "AWS-123456789012-Ops",
            "contractors",
        ],
    )
    .await;
    let carol = spawn_client_for(&app);
    carol.login("carol", "carol-password-1").await;
    let portal = carol.get("/").await;
    assert!(portal.body.contains(OPS_ROLE), "{}", portal.body);
    assert!(
        !portal.body.contains("role/Landing"),
        "the denied role is not offered: {}",
        portal.body
    );
    let token = portal.csrf_token();
    let page = carol
        .post_form(
            "/saml/aws/sso",
            &[
                ("csrf_token", &token),
                ("role", "arn:aws:iam::123456789012:role/Landing"),
            ],
        )
        .await;
    assert!(page.status.is_client_error(), "{}", page.status);
    assert!(
        page.body.contains("is not one of your roles"),
        "{}",
        page.body
    );
    let form = app.get("/admin/rules/new").await;
    assert!(
        form.body
            .contains("for deny rules, the role ARN pattern ignore case"),
        "the form explains the case rule for deny patterns: {}",
        form.body
    );
    let dry = app.get("/admin/test?username=carol").await;
    assert!(
        dry.body.contains("No landing for contractors"),
        "the dry run names the deny rule: {}",
        dry.body
    );
}

on_both_backends!(
    directory_users_cannot_take_a_local_users_source_identity,
    a_landing_page_that_hides_another_host_is_refused,
    a_lower_case_deny_pattern_removes_a_capitalised_role,
);
