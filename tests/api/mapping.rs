//! Mapping rules, account aliases and dry runs through the admin UI, and what people then see in
//! the portal.

use reqwest::StatusCode;

use crate::helpers::{hidden_field, spawn_app, spawn_client_for, Backend, TestApp};
use crate::on_both_backends;
use fedbroker::mapping::RulesDocument;
use fedbroker::store::Change;

const EXAMPLE: &str = include_str!("../../config/rules.example.yaml");

/// The shipped example document (four rules, two aliases).
fn example() -> RulesDocument {
    RulesDocument::from_yaml(EXAMPLE, fedbroker::domain::aws::Partition::Aws).expect("example")
}

/// Replaces the mapping with `doc`, as `fedbroker rules import` does.
pub async fn import(app: &TestApp, doc: &RulesDocument) {
    app.store
        .replace_mapping(
            doc,
            &Change {
                actor: "setup",
                at: 1,
            },
        )
        .await
        .expect("imported");
}

/// Posts the new-rule form with these fields (plus the CSRF token and `enabled`).
async fn create_rule(app: &TestApp, fields: &[(&str, &str)]) -> crate::helpers::Page {
    let token = app.get("/admin/rules/new").await.csrf_token();
    let mut form = vec![("csrf_token", token.as_str()), ("enabled", "on")];
    form.extend_from_slice(fields);
    app.post_form("/admin/rules/new", &form).await
}

async fn add_alias(app: &TestApp, id: &str, name: &str, env: &str, colour: &str) {
    let token = app.get("/admin/accounts").await.csrf_token();
    let res = app
        .post_form(
            "/admin/accounts",
            &[
                ("csrf_token", &token),
                ("id", id),
                ("name", name),
                ("environment", env),
                ("colour", colour),
                ("action", "add"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
}

async fn admin_rules_and_aliases_shape_the_portal(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &["team-payments", "staff"])
        .await;
    let alice = spawn_client_for(&app);
    alice.login("alice", "alice-password-1").await;
    let before = alice.get("/").await;
    assert!(before.body.contains("id=\"no-roles\""), "{}", before.body);
    assert!(
        before.body.contains("your AWS administrators"),
        "the contact from admin.contact is named"
    );

    app.login_as_admin().await;
    let res = create_rule(
        &app,
        &[
            ("name", "Team deployers"),
            ("effect", "allow"),
            ("pattern", r"team-(?P<team>\w+)"),
            ("role", "arn:aws:iam::123456789012:role/${team}-Deployer"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    add_alias(&app, "123456789012", "Payments", "prod", "red").await;

    let portal = alice.get("/").await;
    assert!(!portal.body.contains("id=\"no-roles\""));
    let block = portal
        .body
        .split("id=\"account-123456789012\"")
        .nth(1)
        .expect("the account has its own block");
    assert!(block.contains("Payments"), "{block}");
    assert!(block.contains("<span class=\"env\">prod</span>"));
    assert!(portal.body.contains("colour-red"));
    assert!(block.contains("payments-Deployer"));

    // Server-side search (what a browser without script gets).
    let miss = alice.get("/?q=staging").await;
    assert!(miss.body.contains("0 of 1 roles match"), "{}", miss.body);
    assert!(!miss.body.contains("payments-Deployer\""));
    let hit = alice.get("/?q=PROD+payments").await;
    assert!(hit.body.contains("1 of 1 roles match"), "{}", hit.body);
    assert!(hit
        .body
        .contains("arn:aws:iam::123456789012:role/payments-Deployer"));

    // Favourites are pinned on top, only for roles the user has.
    let token = portal.csrf_token();
    let role = "arn:aws:iam::123456789012:role/payments-Deployer";
    let pin = alice
        .post_form(
            "/portal/favourites",
            &[("csrf_token", &token), ("role", role), ("pin", "1")],
        )
        .await;
    assert_eq!(pin.status, StatusCode::SEE_OTHER, "{}", pin.body);
    let pinned = alice.get("/").await;
    let favourites = pinned
        .body
        .split("id=\"favourites\"")
        .nth(1)
        .expect("a favourites block")
        .split("id=\"account-")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(favourites.contains(role), "{favourites}");
    let stranger = alice
        .post_form(
            "/portal/favourites",
            &[
                ("csrf_token", &token),
                ("role", "arn:aws:iam::999999999999:role/Admin"),
                ("pin", "1"),
            ],
        )
        .await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);
    let forged = alice
        .post_form(
            "/portal/favourites",
            &[("csrf_token", "forged"), ("role", role), ("pin", "0")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    alice
        .post_form(
            "/portal/favourites",
            &[("csrf_token", &token), ("role", role), ("pin", "0")],
        )
        .await;
    assert!(!alice.get("/").await.body.contains("id=\"favourites\""));
}

async fn invalid_rules_are_refused_field_by_field_and_nothing_is_saved(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login_as_admin().await;
    let rules_before = app.store.list_rules().await.expect("rules").len();
    /// (form fields, id of the error element, text it must contain)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[
                ("name", "bad regex"),
                ("effect", "allow"),
                ("pattern", "team-("),
                ("role", "arn:aws:iam::123456789012:role/X"),
            ],
            "error-match",
            "is not a valid regular expression",
        ),
        (
            &[
                ("name", "not an ARN"),
                ("effect", "allow"),
                ("pattern", "team-(.+)"),
                ("role", "arn:aws:s3:::bucket-$1"),
            ],
            "error-role",
            "does not make an IAM role ARN",
        ),
        (
            &[
                ("name", "missing group"),
                ("effect", "allow"),
                ("pattern", "team"),
                ("role", "arn:aws:iam::123456789012:role/$1"),
            ],
            "error-role",
            "refers to capture group 1, but the pattern has only 0",
        ),
        (
            &[
                ("name", "short"),
                ("effect", "allow"),
                ("pattern", "x"),
                ("role", "arn:aws:iam::123456789012:role/X"),
                ("session_duration", "60"),
            ],
            "error-session_duration",
            "900",
        ),
        (
            &[
                ("name", "phishing"),
                ("effect", "allow"),
                ("pattern", "x"),
                ("role", "arn:aws:iam::123456789012:role/X"),
                (
                    "relay_state",
                    "https://console.aws.amazon.com.evil.example/",
                ),
            ],
            "error-relay_state",
            "is not an AWS console address",
        ),
    ];
    for (fields, id, message) in cases {
        let res = create_rule(&app, fields).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
        let error = res
            .body
            .split(&format!("id=\"{id}\">"))
            .nth(1)
            .unwrap_or_else(|| panic!("{id} shown: {}", res.body));
        assert!(error.contains(message), "{id}: {error}");
        // What the admin typed is still in the form.
        let pattern = fields
            .iter()
            .find(|(k, _)| *k == "pattern")
            .map(|(_, v)| *v);
        assert_eq!(hidden_field(&res.body, "pattern").as_deref(), pattern);
    }
    let duplicate = create_rule(
        &app,
        &[
            ("name", "AD FS convention"),
            ("effect", "allow"),
            ("pattern", "x"),
            ("role", "arn:aws:iam::123456789012:role/X"),
        ],
    )
    .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(duplicate.body.contains("exists already"));
    assert_eq!(
        app.store.list_rules().await.expect("rules").len(),
        rules_before,
        "nothing was saved"
    );
}

async fn two_admins_editing_one_rule_cannot_overwrite_each_other(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login_as_admin().await;
    app.create_user("carol", "carol-password-1", &["fedbroker-admins"])
        .await;
    let carol = spawn_client_for(&app);
    carol.login("carol", "carol-password-1").await;
    let rule = app.store.list_rules().await.expect("rules")[0].clone();
    let path = format!("/admin/rules/{}", rule.id);

    let mine = app.get(&path).await;
    let theirs = carol.get(&path).await;
    let version = hidden_field(&mine.body, "version").expect("version in the form");
    assert_eq!(
        hidden_field(&theirs.body, "version").as_deref(),
        Some(version.as_str())
    );
    let form = |token: String, role: &'static str| {
        vec![
            ("csrf_token".to_string(), token),
            ("version".to_string(), version.clone()),
            ("name".to_string(), rule.name.clone()),
            ("enabled".to_string(), "on".to_string()),
            ("effect".to_string(), "allow".to_string()),
            ("pattern".to_string(), rule.pattern.clone()),
            ("role".to_string(), role.to_string()),
        ]
    };
    let a = form(
        mine.csrf_token(),
        "arn:${partition}:iam::${account}:role/A-${role}",
    );
    let b = form(
        theirs.csrf_token(),
        "arn:${partition}:iam::${account}:role/B-${role}",
    );
    let fa: Vec<(&str, &str)> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let fb: Vec<(&str, &str)> = b.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Both submit at the same moment.
    let (ra, rb) = tokio::join!(app.post_form(&path, &fa), carol.post_form(&path, &fb));
    let mut statuses = vec![ra.status, rb.status];
    statuses.sort();
    assert_eq!(
        statuses,
        vec![StatusCode::SEE_OTHER, StatusCode::CONFLICT],
        "{} / {}",
        ra.body,
        rb.body
    );
    let (winner, loser, loser_role) = if ra.status == StatusCode::SEE_OTHER {
        ("A-", rb, "B-")
    } else {
        ("B-", ra, "A-")
    };
    assert!(loser.body.contains("id=\"conflict\""), "{}", loser.body);
    assert!(loser.body.contains("after you opened it"));
    assert!(
        loser.body.contains(&format!("role/{loser_role}${{role}}")),
        "the loser's own value is kept in the form"
    );
    let saved = app.store.rule(rule.id).await.expect("read").expect("rule");
    assert!(
        saved.role_template.contains(winner),
        "{}",
        saved.role_template
    );
    let history = app
        .store
        .history(Some("rule"), Some(&rule.id.to_string()), 10)
        .await
        .expect("history");
    assert_eq!(history.len(), 1, "exactly one change is recorded");
    assert_eq!(history[0].action, "update");
    assert!(history[0]
        .after_json
        .as_deref()
        .unwrap_or_default()
        .contains(winner));

    // Submitting again from the conflict page is a deliberate overwrite.
    let new_version = hidden_field(&loser.body, "version").expect("current version offered");
    assert_ne!(new_version, version);
    let client = if winner == "A-" { &carol } else { &app };
    let token = client.get("/").await.csrf_token();
    let role = format!("arn:${{partition}}:iam::${{account}}:role/{loser_role}${{role}}");
    let again = client
        .post_form(
            &path,
            &[
                ("csrf_token", &token),
                ("version", &new_version),
                ("name", &rule.name),
                ("enabled", "on"),
                ("effect", "allow"),
                ("pattern", &rule.pattern),
                ("role", &role),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    let history = app
        .store
        .history(Some("rule"), Some(&rule.id.to_string()), 10)
        .await
        .expect("history");
    assert_eq!(history.len(), 2);
}

async fn reorder_disable_and_delete_are_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login_as_admin().await;
    // The one rule the first start installs: counted in the singular, and never "edited in 1970".
    let first = app.get("/admin/rules").await;
    assert!(first.body.contains("1 rule is active"), "{}", first.body);
    assert!(
        first.body.contains("built in, never edited"),
        "{}",
        first.body
    );
    assert!(!first.body.contains("1970"), "{}", first.body);
    let doc = example();
    import(&app, &doc).await;
    let names = |rules: Vec<fedbroker::store::RuleRecord>| -> Vec<String> {
        rules.into_iter().map(|r| r.name).collect()
    };
    let rules = app.store.list_rules().await.expect("rules");
    let second = rules[1].clone();
    let token = app.get("/admin/rules").await.csrf_token();
    let act = |id: i64, action: &'static str, version: i64| {
        let token = token.clone();
        let app = &app;
        async move {
            app.post_form(
                &format!("/admin/rules/{id}/action"),
                &[
                    ("csrf_token", &token),
                    ("action", action),
                    ("version", &version.to_string()),
                ],
            )
            .await
        }
    };
    assert_eq!(
        act(second.id, "up", second.version).await.status,
        StatusCode::SEE_OTHER
    );
    let order = names(app.store.list_rules().await.expect("rules"));
    assert_eq!(order[0], second.name);
    assert_eq!(order[1], rules[0].name);

    assert_eq!(
        act(second.id, "disable", second.version).await.status,
        StatusCode::SEE_OTHER
    );
    let disabled = app
        .store
        .rule(second.id)
        .await
        .expect("read")
        .expect("rule");
    assert!(!disabled.enabled);
    // A stale version is refused with the conflict page, and nothing changes.
    let stale = act(second.id, "delete", second.version).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(app.store.rule(second.id).await.expect("read").is_some());
    assert_eq!(
        act(second.id, "delete", disabled.version).await.status,
        StatusCode::SEE_OTHER
    );
    assert!(app.store.rule(second.id).await.expect("read").is_none());
    let actions: Vec<String> = app
        .store
        .history(Some("rule"), Some(&second.id.to_string()), 10)
        .await
        .expect("history")
        .into_iter()
        .map(|h| h.action)
        .collect();
    assert_eq!(actions, vec!["delete", "update", "reorder"]);
    let page = app.get("/admin/rules").await;
    assert!(page.body.contains("delete rule"), "history is shown");
}

async fn a_broken_import_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.store.mapping_document().await.expect("document");
    let mut doc = example();
    // Skip validation on purpose: the database refuses the second rule of the same name half
    // way through, and the transaction must leave nothing behind.
    let mut twin = doc.rules[0].clone();
    twin.description = "twin".into();
    doc.rules.push(twin);
    let err = app
        .store
        .replace_mapping(
            &doc,
            &Change {
                actor: "test",
                at: 1,
            },
        )
        .await;
    assert!(err.is_err());
    assert_eq!(
        app.store.mapping_document().await.expect("document"),
        before
    );
    assert!(app
        .store
        .history(Some("mapping"), None, 10)
        .await
        .expect("history")
        .is_empty());
}

async fn the_dry_run_explains_every_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut doc = example();
    let mut gov = doc.rules[2].clone();
    gov.name = "GovCloud readers".into();
    gov.pattern = "gov-readers".into();
    gov.role = "arn:aws-us-gov:iam::210987654321:role/Reader".into();
    gov.relay_state = None;
    doc.rules.push(gov);
    import(&app, &doc).await;
    app.create_user(
        "alice",
        "alice-password-1",
        &["AWS-123456789012-Admin", "contractors", "data-analysts"],
    )
    .await;
    app.login_as_admin().await;

    let page = app.get("/admin/test?username=alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let granted = page
        .body
        .split("id=\"granted\"")
        .nth(1)
        .expect("granted table");
    let granted = granted.split("</table>").next().unwrap_or_default();
    assert!(
        granted.contains("arn:aws:iam::210987654321:role/DataReadOnly"),
        "{granted}"
    );
    assert!(granted.contains("Data team read-only") && granted.contains("data-analysts"));
    assert!(granted.contains("14400 s"));
    assert!(
        !granted.contains("role/Admin"),
        "denied roles are not offered"
    );
    let denied = page
        .body
        .split("id=\"denied\"")
        .nth(1)
        .expect("denied table");
    assert!(denied.contains("arn:aws:iam::123456789012:role/Admin"));
    assert!(denied.contains("Contractors never get production (contractors)"));
    assert!(denied.contains("AD FS convention (AWS-123456789012-Admin)"));
    let xml = page
        .body
        .split("id=\"assertion-xml\">")
        .nth(1)
        .expect("assertion shown")
        .split("</pre>")
        .next()
        .unwrap_or_default()
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"");
    assert!(xml.contains("DataReadOnly,arn:aws:iam::210987654321:saml-provider/fedbroker"));
    assert!(
        xml.lines().count() > 20 && xml.contains("\n  <saml:Issuer"),
        "laid out one element per line: {xml}"
    );
    assert!(
        xml.contains("<saml:AttributeValue>14400</saml:AttributeValue>"),
        "{xml}"
    );
    assert!(page.body.contains("id=\"preflight-ok\""));
    assert!(
        page.body.contains("of 100000 base64 characters"),
        "signed size measured"
    );

    // Pasted groups: a role in another partition is flagged by the pre-flight checks, and a
    // group whose capture would break out of the ARN is skipped with the reason.
    let pasted = app
        .get("/admin/test?username=&groups=gov-readers%0AAWS-123456789012-a%3Arole%2Fx")
        .await;
    let warnings = pasted
        .body
        .split("id=\"warnings\"")
        .nth(1)
        .expect("warnings");
    assert!(
        warnings.contains("is in partition aws-us-gov"),
        "{warnings}"
    );
    assert!(!pasted.body.contains("role/a:role/x"));

    let unknown = app.get("/admin/test?username=nobody").await;
    assert!(unknown.body.contains("There is no user `nobody`"));
}

async fn people_outside_the_admin_group_cannot_reach_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &["staff"])
        .await;
    app.login("alice", "alice-password-1").await;
    for path in [
        "/admin/rules",
        "/admin/rules/new",
        "/admin/accounts",
        "/admin/test?username=alice",
    ] {
        assert_eq!(app.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let token = app.get("/").await.csrf_token();
    let res = app
        .post_form(
            "/admin/rules/new",
            &[
                ("csrf_token", &token),
                ("name", "x"),
                ("effect", "allow"),
                ("pattern", "staff"),
                ("role", "arn:aws:iam::123456789012:role/Admin"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(app.store.list_rules().await.expect("rules").len(), 1);
}

on_both_backends!(
    admin_rules_and_aliases_shape_the_portal,
    invalid_rules_are_refused_field_by_field_and_nothing_is_saved,
    two_admins_editing_one_rule_cannot_overwrite_each_other,
    reorder_disable_and_delete_are_recorded,
    a_broken_import_changes_nothing,
    the_dry_run_explains_every_role,
    people_outside_the_admin_group_cannot_reach_rules,
);

#[tokio::test]
async fn the_demo_seeds_account_aliases_for_its_users() {
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |s| s.demo.enabled = true).await;
    app.login("alice", "alice-demo-password").await;
    let portal = app.get("/").await;
    let payments = portal
        .body
        .split("id=\"account-123456789012\"")
        .nth(1)
        .expect("a block for the demo prod account");
    assert!(
        payments.contains("Payments") && payments.contains(">prod<"),
        "{payments}"
    );
    assert!(portal.body.contains("Analytics"));
}
