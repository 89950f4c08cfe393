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
