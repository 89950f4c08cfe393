//! Several broker instances on one database.

use fedbroker::directory::local::Bootstrap;
use fedbroker::startup::{Application, BuildOptions};
use fedbroker::store::Pool;

use crate::helpers::{fresh_database, test_settings, Backend};
use crate::on_both_backends;

async fn count(store: &fedbroker::store::Store, sql: &str) -> i64 {
    let (n,): (i64,) = match store.pool() {
        Pool::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await,
        Pool::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await,
    }
    .expect("count query runs");
    n
}

/// Two instances started at the same moment on an empty database: one signing key, active,
/// and one bootstrap admin, whose one-time password exactly one of them shows.
async fn two_instances_starting_together_create_one_key_and_one_admin(backend: Backend) {
    let (url, _dir) = fresh_database(backend).await;
    let settings = test_settings(&url);
    let build = || Application::build(settings.clone(), BuildOptions::default());
    let (first, second) = tokio::join!(build(), build());
    let (first, second) = (
        first.expect("first instance starts"),
        second.expect("second instance starts"),
    );
    let store = first.store();
    assert_eq!(count(store, "SELECT COUNT(*) FROM signing_keys").await, 1);
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM signing_keys WHERE state = 'active'"
        )
        .await,
        1
    );
    assert_eq!(count(store, "SELECT COUNT(*) FROM users").await, 1);
    let shown = [first.bootstrap(), second.bootstrap()]
        .iter()
        .filter(|b| matches!(b, Bootstrap::Created { password: Some(_) }))
        .count();
    assert_eq!(shown, 1, "exactly one instance shows the one-time password");
    // Both sign with that one key.
    let (a, b) = (
        first.store().active_key().await,
        second.store().active_key().await,
    );
    assert_eq!(
        a.expect("read").map(|k| k.kid),
        b.expect("read").map(|k| k.kid)
    );
}

on_both_backends!(two_instances_starting_together_create_one_key_and_one_admin,);

/// PostgreSQL stopped and started under a running broker (a restart, a failover): requests
/// in that window get a clear 503 page, never a 500 nor a wait past the pool's timeout, and no
/// Response leaves unrecorded; the broker recovers by itself once the database is back,
/// signed-in sessions included, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_gives_clear_503s_and_the_broker_recovers_by_itself() {
    let pg = crate::peers::postgres::Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("idp-metadata.xml");
    let east =
        crate::peers::sign_in_endpoint::SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let (pg_url, east_url) = (pg.url("postgres"), east.url.clone());
    let app = crate::helpers::spawn_app_with(Backend::Postgres, |s| {
        s.database.url = pg_url;
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
    let console = || app.post_form("/saml/aws/sso", &fields);
    assert_eq!(console().await.status, reqwest::StatusCode::OK);
    let issued_before = app
        .count("SELECT COUNT(*) FROM audit_events WHERE event_type = 'assertion.issued'")
        .await;

    pg.stop();
    let timeout = std::time::Duration::from_secs(app.settings.database.acquire_timeout_secs);
    for path in ["/saml/aws/sso", "/"] {
        let started = std::time::Instant::now();
        let page = if path == "/" {
            app.get(path).await
        } else {
            console().await
        };
        let took = started.elapsed();
        assert_eq!(
            page.status,
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            page.body
        );
        assert!(
            page.body.contains("database"),
            "{path} says what is wrong: {}",
            page.body
        );
        assert!(
            !page.body.contains("SAMLResponse"),
            "no Response leaves unrecorded"
        );
        assert!(
            took < timeout + std::time::Duration::from_secs(3),
            "{path} answered after {took:?}, past the pool's {timeout:?} timeout"
        );
    }
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, reqwest::StatusCode::SERVICE_UNAVAILABLE);

    pg.start_again();
    // Recovers by itself: the pool reconnects; the same browser session still works.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let page = console().await;
        if page.status == reqwest::StatusCode::OK {
            assert!(page.body.contains("SAMLResponse"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not recovered 20 s after the database came back: {} {}",
            page.status,
            page.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(app.get("/readyz").await.status, reqwest::StatusCode::OK);
    let issued_after = app
        .count("SELECT COUNT(*) FROM audit_events WHERE event_type = 'assertion.issued'")
        .await;
    assert_eq!(
        issued_after,
        issued_before + 1,
        "exactly the answered sign-ins are recorded"
    );
}
