//! The storage interface behaves the same on SQLite and PostgreSQL.

use fedbroker::store::{AccountChange, KeyStats, NewUser, Pool, Store, StoreError};

use crate::helpers::{fresh_database, test_settings, Backend};
use crate::on_both_backends;

async fn open(backend: Backend) -> (Store, tempfile::TempDir) {
    let (url, dir) = fresh_database(backend).await;
    let settings = test_settings(&url);
    let store = fedbroker::startup::open_store(&settings)
        .await
        .expect("store opens");
    (store, dir)
}

/// Two broker instances' stores (two pools, two memories) on one fresh database.
async fn two_instances(backend: Backend) -> (Store, Store, tempfile::TempDir) {
    let (url, dir) = fresh_database(backend).await;
    let settings = test_settings(&url);
    let first = fedbroker::startup::open_store(&settings)
        .await
        .expect("store opens");
    let second = fedbroker::startup::open_store(&settings)
        .await
        .expect("second instance opens");
    (first, second, dir)
}

fn user(name: &str) -> NewUser<'_> {
    NewUser {
        username: name,
        display_name: "",
        email: "",
        password_hash: Some("$argon2id$fake"),
        must_change_password: false,
    }
}

async fn users_and_groups_round_trip(backend: Backend) {
    let (store, _dir) = open(backend).await;
    assert_eq!(store.count_users().await.expect("count"), 0);
    let id = store
        .create_user(&user("alice"), &["b-group", "a-group"], 100)
        .await
        .expect("created");
    let found = store
        .user_by_username("alice")
        .await
        .expect("query")
        .expect("exists");
    assert_eq!(found.id, id);
    assert_eq!(found.created_at, 100);
    assert!(!found.disabled);
    assert_eq!(
        store.groups_of_user(id).await.expect("groups"),
        vec!["a-group", "b-group"]
    );
    assert!(store
        .user_by_username("bob")
        .await
        .expect("query")
        .is_none());

    store.create_group("c-group", 1).await.expect("group");
    store
        .set_membership("c-group", "alice", true, &AccountChange::by("test", 1))
        .await
        .expect("member");
    store
        .set_membership("c-group", "alice", true, &AccountChange::by("test", 1))
        .await
        .expect("idempotent");
    assert_eq!(store.groups_of_user(id).await.expect("groups").len(), 3);
    store
        .set_membership("a-group", "alice", false, &AccountChange::by("test", 1))
        .await
        .expect("removed");
    assert_eq!(
        store.groups_of_user(id).await.expect("groups"),
        vec!["b-group", "c-group"]
    );
    let groups = store.list_groups().await.expect("list");
    assert_eq!(
        groups
            .iter()
            .find(|g| g.name == "a-group")
            .map(|g| g.members),
        Some(0)
    );
}

async fn duplicates_and_missing_rows_are_reported_as_such(backend: Backend) {
    let (store, _dir) = open(backend).await;
    store
        .create_user(&user("alice"), &[], 1)
        .await
        .expect("created");
    assert!(matches!(
        store.create_user(&user("alice"), &[], 1).await,
        Err(StoreError::Conflict)
    ));
    store.create_group("g", 1).await.expect("group");
    assert!(matches!(
        store.create_group("g", 1).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .set_membership("nope", "alice", true, &AccountChange::by("test", 1))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .set_membership("g", "nobody", true, &AccountChange::by("test", 1))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .set_disabled("nobody", true, &AccountChange::by("test", 1))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .set_password("nobody", "h", false, &AccountChange::by("test", 1))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn a_failed_user_creation_leaves_nothing_behind(backend: Backend) {
    let (store, _dir) = open(backend).await;
    store
        .create_user(&user("alice"), &[], 1)
        .await
        .expect("created");
    // Same username again with a new group: the transaction rolls back the group as well.
    assert!(store
        .create_user(&user("alice"), &["fresh-group"], 1)
        .await
        .is_err());
    assert!(store
        .list_groups()
        .await
        .expect("list")
        .iter()
        .all(|g| g.name != "fresh-group"));
}

async fn login_attempts_are_counted_within_the_window_released_and_pruned(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let grant = |_: &[KeyStats]| None;
    assert_eq!(
        store
            .reserve_attempt(&["k1", "k2"], 0, 100, "a1", grant)
            .await
            .expect("reserved"),
        None
    );
    store
        .reserve_attempt(&["k1"], 0, 200, "a2", grant)
        .await
        .expect("reserved");
    let seen = std::sync::Mutex::new(Vec::new());
    let refused = store
        .reserve_attempt(&["k1", "k3"], 150, 300, "a3", |stats| {
            seen.lock().expect("lock").extend_from_slice(stats);
            Some(42)
        })
        .await
        .expect("decided");
    assert_eq!(refused, Some(42));
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![
            KeyStats {
                count: 1,
                oldest: Some(200),
                newest: Some(200)
            },
            KeyStats::default()
        ]
    );
    // A refused reservation wrote nothing.
    assert_eq!(store.attempts_since("k3", 0).await.expect("count"), 0);
    assert_eq!(store.attempts_since("k1", 0).await.expect("count"), 2);
    store.release_attempt("a2").await.expect("released");
    assert_eq!(store.attempts_since("k1", 0).await.expect("count"), 1);
    store.prune(0, 0, 150).await.expect("pruned");
    assert_eq!(store.attempts_since("k2", 0).await.expect("count"), 0);
    store
        .reserve_attempt(&["k1"], 0, 400, "a4", grant)
        .await
        .expect("reserved");
    store.clear_attempts(&["k1"]).await.expect("cleared");
    assert_eq!(store.attempts_since("k1", 0).await.expect("count"), 0);
}

/// Two broker instances (two pools on one database) reserve concurrently against one budget:
/// exactly the budget is granted, never more.
async fn a_budget_holds_under_a_concurrent_burst_across_two_instances(backend: Backend) {
    let (first, second, _dir) = two_instances(backend).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .reserve_attempt(&["user:x", "addr:y"], 0, 1000, &format!("t{i}"), |stats| {
                    (stats[0].count >= 5).then_some(1)
                })
                .await
                .expect("no database error under contention")
        }));
    }
    let mut granted = 0;
    for t in tasks {
        if t.await.expect("task").is_none() {
            granted += 1;
        }
    }
    assert_eq!(granted, 5);
    assert_eq!(first.attempts_since("user:x", 0).await.expect("count"), 5);
}

async fn migrations_can_run_twice(backend: Backend) {
    let (store, _dir) = open(backend).await;
    store.migrate().await.expect("second run is a no-op");
    store.ping().await.expect("answers");
}

on_both_backends!(
    users_and_groups_round_trip,
    duplicates_and_missing_rows_are_reported_as_such,
    a_failed_user_creation_leaves_nothing_behind,
    login_attempts_are_counted_within_the_window_released_and_pruned,
    a_budget_holds_under_a_concurrent_burst_across_two_instances,
    migrations_can_run_twice,
    an_unknown_stored_value_is_refused_never_read_as_a_default,
    what_one_instance_remembers_follows_every_write_of_another,
    audit_events_written_together_are_all_stored,
);

/// Two instances on one database: what the first keeps in memory (Region controls, learned
/// limits, the active key, a person's groups, a session) changes the moment the second, or a
/// hand edit, changes the row.
async fn what_one_instance_remembers_follows_every_write_of_another(backend: Backend) {
    let (first, second, _dir) = two_instances(backend).await;

    // Region controls.
    assert!(first.region_controls().await.expect("read").is_empty());
    second
        .set_region_control("us-east-2", Some("drained"), "admin", 1)
        .await
        .expect("drain");
    let controls = first.region_controls().await.expect("read");
    assert_eq!(
        controls.len(),
        1,
        "the drain made elsewhere is seen at once"
    );
    assert_eq!(controls[0].mode, "drained");

    // Learned session limits.
    let role = "arn:aws:iam::123456789012:role/Admin";
    assert!(first
        .role_session_limit(role)
        .await
        .expect("read")
        .is_none());
    second
        .set_role_session_limit(role, 3600, 43200, 1)
        .await
        .expect("learn");
    assert_eq!(
        first
            .role_session_limit(role)
            .await
            .expect("read")
            .map(|l| l.max_duration),
        Some(3600)
    );
    raw(&second, "DELETE FROM role_session_limits").await;
    assert!(first
        .role_session_limit(role)
        .await
        .expect("read")
        .is_none());

    // A person's groups.
    let id = first
        .create_user(&user("carol"), &["team-a"], 1)
        .await
        .expect("user");
    let groups = |found: Option<
        std::sync::Arc<(
            fedbroker::store::UserRecord,
            Vec<fedbroker::store::Membership>,
        )>,
    >| {
        found
            .expect("carol exists")
            .1
            .iter()
            .map(|m| m.group.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        groups(first.user_with_memberships(id).await.expect("read")),
        ["team-a"]
    );
    second.create_group("team-b", 2).await.expect("group");
    second
        .set_membership("team-b", "carol", true, &AccountChange::by("admin", 2))
        .await
        .expect("grant");
    assert_eq!(
        groups(first.user_with_memberships(id).await.expect("read")),
        ["team-a", "team-b"]
    );
    raw(&second, "DELETE FROM group_members").await;
    assert!(groups(first.user_with_memberships(id).await.expect("read")).is_empty());

    // Sessions: remembered after a read, forgotten when another instance ends it.
    let record = fedbroker::store::SessionRecord {
        id_hash: "h1".into(),
        user_id: id,
        csrf_token: "c".into(),
        created_at: 1,
        last_seen_at: 1,
        client_addr: String::new(),
        user_agent: String::new(),
    };
    first.insert_session(&record).await.expect("session");
    let (generation, remembered) = first.remembered_session("h1").await.expect("read");
    assert!(
        remembered.is_none(),
        "nothing is remembered before it is read"
    );
    first.remember_session(generation, record.clone());
    assert!(first
        .remembered_session("h1")
        .await
        .expect("read")
        .1
        .is_some());
    second.delete_session("h1").await.expect("end");
    assert!(
        first
            .remembered_session("h1")
            .await
            .expect("read")
            .1
            .is_none(),
        "a session ended by another instance is forgotten"
    );

    // The active signing key.
    assert!(first.active_key().await.expect("read").is_none());
    raw(
        &second,
        "INSERT INTO signing_keys (kid, state, certificate_pem, private_key_enc, created_at) \
         VALUES ('k1', 'published', '', '', 1)",
    )
    .await;
    second.activate_key("k1", 2).await.expect("activate");
    assert_eq!(
        first.active_key().await.expect("read").map(|k| k.kid),
        Some("k1".to_string())
    );
}

/// Events appended concurrently share grouped inserts, and every one of them is stored; one
/// the database refuses (an outcome its CHECK does not allow) fails alone without taking the
/// events grouped with it down; and once the store is closed an event is refused at once,
/// never left waiting.
async fn audit_events_written_together_are_all_stored(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let writes = (0..300).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let event = fedbroker::store::NewAuditEvent {
                event_type: "assertion.issued".into(),
                actor: format!("user{i}"),
                outcome: if i == 150 { "bogus" } else { "success" }.into(),
                details: serde_json::json!({ "n": i }),
                ..Default::default()
            };
            (i, store.append_audit_grouped(event, 10).await)
        })
    });
    for write in futures_util::future::join_all(writes).await {
        let (i, stored) = write.expect("task");
        if i == 150 {
            assert!(stored.is_err(), "the refused event reports its own failure");
        } else {
            stored.unwrap_or_else(|e| panic!("event {i}: {e}"));
        }
    }
    let stored = store
        .audit_events(&fedbroker::store::AuditFilter::default(), 1000)
        .await
        .expect("list");
    assert_eq!(stored.len(), 299);
    let mut actors: Vec<_> = stored.iter().map(|e| e.actor.clone()).collect();
    actors.sort();
    actors.dedup();
    assert_eq!(actors.len(), 299, "each event once");
    assert!(!actors.contains(&"user150".to_string()));

    store.close().await;
    let after_close = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        store.append_audit_grouped(
            fedbroker::store::NewAuditEvent {
                event_type: "assertion.issued".into(),
                outcome: "success".into(),
                ..Default::default()
            },
            11,
        ),
    )
    .await
    .expect("answered at once, not left waiting");
    assert!(
        matches!(
            after_close,
            Err(fedbroker::store::StoreError::Unavailable(_))
        ),
        "{after_close:?}"
    );
}

/// Runs raw SQL on the store's pool: what an operator's hand edit or a newer version's write
/// could leave behind.
async fn raw(store: &Store, sql: &str) {
    match store.pool() {
        Pool::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Pool::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .expect("raw SQL runs");
}

async fn an_unknown_stored_value_is_refused_never_read_as_a_default(backend: Backend) {
    let (url, _dir) = fresh_database(backend).await;
    let settings = test_settings(&url);
    let store = fedbroker::startup::open_store(&settings)
        .await
        .expect("store opens");
    let change = fedbroker::store::Change {
        actor: "test",
        at: 1,
    };
    let spec = fedbroker::mapping::RuleSpec::new(
        "deny contractors",
        fedbroker::mapping::Effect::Deny,
        "contractors",
        "arn:aws:iam::123456789012:role/Admin",
    );
    let id = store.create_rule(&spec, &change).await.expect("rule");
    // The schema refuses an unknown effect, and the store reads one (a newer version's
    // value, a hand edit that bypassed the check) as an error: a deny rule read as an allow
    // would grant what it was written to refuse.
    let sql = format!("UPDATE mapping_rules SET effect = 'permit' WHERE id = {id}");
    let refused = match store.pool() {
        Pool::Sqlite(pool) => sqlx::query(&sql).execute(pool).await.map(|_| ()),
        Pool::Postgres(pool) => sqlx::query(&sql).execute(pool).await.map(|_| ()),
    };
    assert!(refused.is_err(), "the database refuses an unknown effect");
    let read = fedbroker::mapping::Effect::try_from("permit".to_string())
        .expect_err("an unknown effect is not read as a default");
    assert!(read.contains("`permit`"), "{read}");
    assert_eq!(
        store.rule(id).await.expect("reads").expect("exists").effect,
        fedbroker::mapping::Effect::Deny
    );

    let alias = fedbroker::mapping::AccountAlias {
        id: "123456789012".into(),
        name: "prod".into(),
        environment: "production".into(),
        colour: None,
    };
    store
        .save_account(&alias, None, &change)
        .await
        .expect("alias");
    raw(
        &store,
        "UPDATE account_aliases SET colour = 'ultraviolet' WHERE account_id = '123456789012'",
    )
    .await;
    let record = store
        .account("123456789012")
        .await
        .expect("the row reads")
        .expect("exists");
    let refused = record.alias().expect_err("an unknown colour is refused");
    assert!(refused.to_string().contains("`ultraviolet`"), "{refused}");
    assert!(store.mapping_document().await.is_err());
}
