//! The audit log: one event per action, filters, CSV and JSON Lines exports, retention, and
//! nothing secret in any event.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_client_for, Backend, TestApp};
use crate::on_both_backends;
use fedbroker::store::{AuditFilter, NewAuditEvent};

async fn events(app: &TestApp, filter: AuditFilter) -> Vec<fedbroker::store::AuditRecord> {
    app.store.audit_events(&filter, 1000).await.expect("events")
}

fn of_type(t: &str) -> AuditFilter {
    AuditFilter {
        event_type: Some(t.into()),
        ..AuditFilter::default()
    }
}

async fn each_action_writes_exactly_one_event(backend: Backend) {
    let acs = crate::peers::answering_endpoint();
    let app = crate::helpers::spawn_app_with(backend, |s| {
        s.regions.acs = crate::helpers::entries([format!("us-east-2={acs}"), "us-west-2".into()]);
    })
    .await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    let mut alice = spawn_client_for(&app);
    alice.client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("audit-test/1.0")
        .build()
        .expect("client");
    alice.login("alice", "wrong-password-123").await;
    alice.login("alice", "alice-password-1").await;

    let signins = events(&app, of_type("signin")).await;
    assert_eq!(signins.len(), 2, "{signins:?}");
    let (ok, failed) = (&signins[0], &signins[1]);
    assert_eq!(
        (ok.outcome.as_str(), ok.subject.as_str()),
        ("success", "alice")
    );
    assert_eq!(failed.outcome, "failure");
    assert!(failed.details.contains("wrong username or password"));
    assert_eq!(failed.source_addr, "127.0.0.1");
    assert_eq!(failed.user_agent, "audit-test/1.0");
    assert!(ok.details.contains("\"source\":\"local\""));

    let token = alice.get("/").await.csrf_token();
    alice
        .post_form(
            "/saml/aws/sso",
            &[
                ("csrf_token", &token),
                ("role", "arn:aws:iam::123456789012:role/Admin"),
            ],
        )
        .await;
    let issued = events(&app, of_type("assertion.issued")).await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].role_arn, "arn:aws:iam::123456789012:role/Admin");
    assert_eq!(issued[0].account_id, "123456789012");
    for field in [
        "session_name",
        "region",
        "acs",
        "duration",
        "assertion_id",
        "tags",
    ] {
        assert!(
            issued[0].details.contains(field),
            "{field} in {}",
            issued[0].details
        );
    }

    app.login_as_admin().await;
    let page_token = app.get("/admin/regions").await.csrf_token();
    app.post_form(
        "/admin/regions",
        &[
            ("csrf_token", &page_token),
            ("action", "drain"),
            ("region", "us-west-2"),
        ],
    )
    .await;
    app.post_form(
        "/admin/keys",
        &[("csrf_token", &page_token), ("action", "add")],
    )
    .await;
    let rules_token = app.get("/admin/rules/new").await.csrf_token();
    app.post_form(
        "/admin/rules/new",
        &[
            ("csrf_token", &rules_token),
            ("name", "audited"),
            ("enabled", "on"),
            ("effect", "allow"),
            ("pattern", "x"),
            ("role", "arn:aws:iam::123456789012:role/X"),
        ],
    )
    .await;
    let changes = events(&app, of_type("admin.change")).await;
    let entities: Vec<String> = changes
        .iter()
        .map(|e| {
            let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
            format!(
                "{}:{}",
                d["entity"].as_str().unwrap_or(""),
                d["action"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        entities,
        vec!["rule:create", "signing_key:add", "region_control:drain"],
        "newest first"
    );
    assert!(changes.iter().all(|e| e.actor == "admin"));

    // Nothing secret anywhere in the log: not the passwords typed, not the assertion.
    for e in events(&app, AuditFilter::default()).await {
        let text = serde_json::to_string(&e).expect("json");
        for secret in [
            "alice-password-1",
            "wrong-password-123",
            "a-new-admin-password",
            "PHNhbWxw",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

async fn filters_and_exports_agree(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = 86_400;
    let base = 1_800_000_000; // 2027-01-15
    let add = |at: i64, t: &str, user: &str, role: &str| {
        let store = app.store.clone();
        let event = NewAuditEvent {
            event_type: t.into(),
            actor: user.into(),
            subject: user.into(),
            role_arn: role.into(),
            account_id: role.split(':').nth(4).unwrap_or("").into(),
            outcome: "success".into(),
            details: serde_json::json!({"note": "=HYPERLINK(\"x\")", "quote": "a \"b\", c"}),
            ..NewAuditEvent::default()
        };
        async move { store.append_audit(&event, at).await.expect("append") }
    };
    add(
        base,
        "sts.assume_role",
        "alice",
        "arn:aws:iam::111111111111:role/A",
    )
    .await;
    add(
        base + day,
        "sts.assume_role",
        "bob",
        "arn:aws:iam::222222222222:role/B",
    )
    .await;
    add(
        base + 2 * day,
        "assertion.issued",
        "alice",
        "arn:aws:iam::222222222222:role/B",
    )
    .await;
    app.login_as_admin().await;

    let count = |body: &str| body.matches("<tr class=\"audit-").count();
    let page = app.get("/admin/audit?user=alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(count(&page.body), 2);
    assert_eq!(
        count(&app.get("/admin/audit?type=sts.assume_role").await.body),
        2
    );
    assert_eq!(
        count(&app.get("/admin/audit?account=222222222222").await.body),
        2
    );
    assert_eq!(
        count(
            &app.get("/admin/audit?role=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2FA")
                .await
                .body
        ),
        1
    );
    assert_eq!(
        count(
            &app.get("/admin/audit?since=2027-01-16&until=2027-01-16")
                .await
                .body
        ),
        1,
        "one day, both ends inclusive"
    );
    let bad = app.get("/admin/audit?since=yesterday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("YYYY-MM-DD"));

    let csv = app.get("/admin/audit/export?format=csv&user=alice").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv
        .headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .contains("fedbroker-audit.csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], fedbroker::audit::CSV_HEADER);
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(
        lines[1].starts_with('"') && lines[1].contains("\"2027-01-17T"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("\"\"quote\"\""),
        "quotes doubled: {}",
        lines[1]
    );

    let jsonl = app
        .get("/admin/audit/export?format=jsonl&type=sts.assume_role")
        .await;
    let records: Vec<serde_json::Value> = jsonl
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["subject"], "bob");
    assert_eq!(records[0]["details"]["note"], "=HYPERLINK(\"x\")");
    assert_eq!(
        app.get("/admin/audit/export?format=xml").await.status,
        StatusCode::BAD_REQUEST
    );
}

async fn retention_prunes_only_older_events_and_events_never_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = fedbroker::clock::now();
    let day = 86_400;
    for (age, t) in [
        (31 * day, "old"),
        (29 * day, "young"),
        (30 * day - 60, "edge"),
    ] {
        app.store
            .append_audit(
                &NewAuditEvent {
                    event_type: t.into(),
                    outcome: "success".into(),
                    ..NewAuditEvent::default()
                },
                now - age,
            )
            .await
            .expect("append");
    }
    let removed = fedbroker::audit::prune(&app.store, 30, now)
        .await
        .expect("prune");
    assert_eq!(removed, 1);
    let left: Vec<String> = events(&app, AuditFilter::default())
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(left, vec!["edge", "young"]);
    // Append-only: the database refuses to change an event.
    let changed = match app.store.pool() {
        fedbroker::store::Pool::Sqlite(pool) => sqlx::query("UPDATE audit_events SET actor = 'x'")
            .execute(pool)
            .await
            .map(|_| ()),
        fedbroker::store::Pool::Postgres(pool) => {
            sqlx::query("UPDATE audit_events SET actor = 'x'")
                .execute(pool)
                .await
                .map(|_| ())
        }
    };
    let err = changed.expect_err("updates are refused");
    assert!(err.to_string().contains("append-only"), "{err}");
}

async fn only_admins_read_the_audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &["staff"])
        .await;
    app.login("alice", "alice-password-1").await;
    assert_eq!(app.get("/admin/audit").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/admin/audit/export?format=csv").await.status,
        StatusCode::FORBIDDEN
    );
}

/// A burst of concurrent console sign-ins: every answered one has its event (their inserts are
/// grouped), each once; and a sign-in whose event cannot be stored hands out no Response.
async fn every_console_sign_in_of_a_burst_is_recorded_before_it_is_answered(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("idp-metadata.xml");
    let east =
        crate::peers::sign_in_endpoint::SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let east_url = east.url.clone();
    let app = crate::helpers::spawn_app_with(backend, |s| {
        s.regions.acs = crate::helpers::entries([format!("us-east-2={east_url}")]);
    })
    .await;
    std::fs::write(&metadata, app.get("/saml/metadata").await.body).expect("metadata");
    app.regions.probe_all(fedbroker::clock::now()).await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    let token = app.get("/").await.csrf_token();
    let fields = [
        ("csrf_token", token.as_str()),
        ("role", "arn:aws:iam::123456789012:role/Admin"),
    ];
    let burst = (0..40).map(|_| app.post_form("/saml/aws/sso", &fields));
    let pages = futures_util::future::join_all(burst).await;
    let answered = pages
        .iter()
        .filter(|p| p.status == StatusCode::OK && p.body.contains("SAMLResponse"))
        .count();
    assert_eq!(
        answered,
        40,
        "{} {}",
        pages[0].status,
        &pages[0].body[..pages[0].body.len().min(600)]
    );
    let issued = app
        .count("SELECT COUNT(*) FROM audit_events WHERE event_type = 'assertion.issued'")
        .await;
    assert_eq!(issued, 40, "one event per answered sign-in");
    let ids = app
        .count(
            "SELECT COUNT(DISTINCT details) FROM audit_events WHERE event_type = 'assertion.issued'",
        )
        .await;
    assert_eq!(ids, 40, "each event once (each names its own assertion id)");

    // The audit log cannot be written: the sign-in fails and no Response leaves.
    app.execute("ALTER TABLE audit_events RENAME TO audit_events_moved")
        .await;
    let refused = app.post_form("/saml/aws/sso", &fields).await;
    assert!(refused.status.is_server_error(), "{}", refused.status);
    assert!(!refused.body.contains("SAMLResponse"), "{}", refused.body);
    assert!(!refused.body.contains("panicked"), "{}", refused.body);
}

/// The audit page shows 100 events a page, newest first, with an "Older" link paging by id
/// (same filter kept) and a way back to the newest; a row shows the client in a few words with
/// the whole user agent on hover, and the details expand.
async fn the_audit_page_pages_by_id_and_keeps_rows_short(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login_as_admin().await;
    let agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    for i in 0..130 {
        app.store
            .record_event(
                &NewAuditEvent {
                    event_type: "signin".into(),
                    actor: format!("user{i:03}"),
                    subject: format!("user{i:03}"),
                    role_arn: String::new(),
                    account_id: String::new(),
                    outcome: "success".into(),
                    source_addr: "192.0.2.9".into(),
                    user_agent: agent.into(),
                    details: serde_json::json!({"n": i, "note": "x".repeat(100)}),
                },
                fedbroker::clock::now(),
            )
            .await;
    }
    let rows = |body: &str| body.matches("<tr class=\"audit-").count();
    let first = app.get("/admin/audit?type=signin").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(rows(&first.body), 100, "one page");
    assert!(first.body.contains("user129"), "newest first");
    assert!(!first.body.contains("user029"));
    assert!(
        first.body.contains(&format!(
            "<span class=\"agent\" title=\"{agent}\">Chrome 131</span>"
        )),
        "{}",
        first.body
    );
    assert!(first.body.contains("<details><summary>"));
    assert!(!first.body.contains("id=\"newest-events\""));
    let older = first
        .body
        .split("id=\"older-events\"")
        .next()
        .and_then(|b| b.rsplit("href=\"").next())
        .and_then(|h| h.split('"').next())
        .expect("an Older link")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(older.contains("type=signin"), "the filter is kept: {older}");
    let total = app
        .count("SELECT COUNT(*) FROM audit_events WHERE event_type = 'signin'")
        .await as usize;
    assert!(total >= 130);
    let second = app.get(&older).await;
    assert_eq!(rows(&second.body), total - 100, "the rest");
    assert!(second.body.contains("user029") && !second.body.contains("user030<"));
    assert!(
        !second.body.contains("id=\"older-events\""),
        "no page after the last"
    );
    assert!(second.body.contains("id=\"newest-events\""));
}

on_both_backends!(
    the_audit_page_pages_by_id_and_keeps_rows_short,
    every_console_sign_in_of_a_burst_is_recorded_before_it_is_answered,
    each_action_writes_exactly_one_event,
    filters_and_exports_agree,
    retention_prunes_only_older_events_and_events_never_change,
    only_admins_read_the_audit_log,
);

/// The `entity`, `action` and `change` of each signing-key event, oldest first: what must not
/// depend on whether an admin used the pages or the command line.
fn key_events(records: &[fedbroker::store::AuditRecord]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .filter_map(|e| {
            let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
            (d["entity"] == "signing_key").then(|| {
                format!(
                    "{}:{}:{}",
                    d["entity"].as_str().unwrap_or(""),
                    d["action"].as_str().unwrap_or(""),
                    d["change"]
                )
            })
        })
        .collect();
    out.reverse();
    out
}

// The key ring records its own changes, so the admin pages and `fedbroker keys` write the
// same events (only the actor differs: the admin's name, or `cli:<login>`).
#[tokio::test]
async fn key_changes_are_audited_alike_from_the_pages_and_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = crate::process::fedbroker(dir.path())
            .args(args)
            .env("USER", "ops")
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let added = run(&["keys", "add"]);
    let kid = added
        .lines()
        .find_map(|l| l.strip_prefix("added key "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("`added key KID ...` in {added}"))
        .to_string();
    run(&["keys", "activate", &kid]);
    let url = format!("sqlite://{}/fb.db", dir.path().display());
    let store = fedbroker::startup::open_store(&crate::helpers::test_settings(&url))
        .await
        .expect("store");
    let cli = store
        .audit_events(&of_type("admin.change"), 100)
        .await
        .expect("events");
    assert!(cli.iter().all(|e| e.actor == "cli:ops"), "{cli:?}");

    let app = spawn_app(Backend::Sqlite).await;
    app.login_as_admin().await;
    let token = app.get("/admin/keys").await.csrf_token();
    app.post_form("/admin/keys", &[("csrf_token", &token), ("action", "add")])
        .await;
    let kid = app
        .store
        .list_keys()
        .await
        .expect("keys")
        .into_iter()
        .find(|k| k.state == "published")
        .expect("the added key")
        .kid;
    app.post_form(
        "/admin/keys",
        &[
            ("csrf_token", &token),
            ("action", "activate"),
            ("kid", &kid),
        ],
    )
    .await;
    let ui = events(&app, of_type("admin.change")).await;
    assert!(ui.iter().all(|e| e.actor == "admin"), "{ui:?}");

    let expected = vec![
        "signing_key:add:{}".to_string(),
        "signing_key:activate:{}".to_string(),
    ];
    assert_eq!(key_events(&cli), expected);
    assert_eq!(key_events(&ui), expected);
}
