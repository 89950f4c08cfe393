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

/// Two broker processes on one PostgreSQL behind Debian's nginx (retrying a failed request on
/// the other instance, POSTs included). Under a steady load of console sign-ins and CLI
/// credentials (STS: moto_server) one instance is killed with SIGKILL: no request fails (every
/// answer is counted), the same browser session goes on through the survivor, and the killed
/// instance, started again with the same command, serves that session at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_behind_nginx_loses_no_request_and_rejoins() {
    use crate::process::{fedbroker, post_login, session_cookie_of, start_serving};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let moto = crate::sts::Peer::moto().await;
    let (db_url, dir) = fresh_database(Backend::Postgres).await;
    let metadata = dir.path().join("idp-metadata.xml");
    let east =
        crate::peers::sign_in_endpoint::SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let (port_a, port_b, proxy) = (
        crate::peers::free_port(),
        crate::peers::free_port(),
        crate::peers::free_port(),
    );
    let public_url = format!("http://127.0.0.1:{proxy}");
    let instance = |port: u16, demo: bool| {
        let mut cmd = fedbroker(dir.path());
        cmd.arg("serve")
            .env("FEDBROKER__SERVER__PORT", port.to_string())
            .env("FEDBROKER__SERVER__PUBLIC_URL", &public_url)
            .env("FEDBROKER__DATABASE__URL", &db_url)
            .env(
                "FEDBROKER__SAML__KEY_ENCRYPTION_KEY",
                "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=",
            )
            .env(
                "FEDBROKER__REGIONS__ACS",
                format!("[\"us-east-2={}\"]", east.url),
            )
            .env(
                "FEDBROKER__STS__ENDPOINTS",
                format!("[\"us-east-2={}\"]", moto.url()),
            )
            .env("FEDBROKER__LOG__LEVEL", "warn");
        if demo {
            cmd.arg("--demo");
        }
        start_serving(&mut cmd)
    };
    let first = instance(port_a, true);
    let second = instance(port_b, false);

    let nginx_dir = tempfile::tempdir().expect("tempdir");
    let prefix = nginx_dir.path().to_path_buf();
    let p = prefix.display();
    let main = prefix.join("nginx.conf");
    std::fs::write(
        &main,
        format!(
            "daemon off;\nmaster_process off;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
             events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  \
             proxy_temp_path {p}/proxy;\n  \
             upstream brokers {{\n    server 127.0.0.1:{port_a} max_fails=1 fail_timeout=2s;\n    \
             server 127.0.0.1:{port_b} max_fails=1 fail_timeout=2s;\n  }}\n  \
             server {{\n    listen 127.0.0.1:{proxy};\n    location / {{\n      \
             proxy_pass http://brokers;\n      proxy_connect_timeout 1s;\n      \
             proxy_next_upstream error http_502;\n      \
             proxy_next_upstream_tries 2;\n      proxy_set_header Host $http_host;\n    }}\n    \
             location ~ ^/(saml/aws/sso|api/v1/credentials)$ {{\n      \
             proxy_pass http://brokers;\n      proxy_connect_timeout 1s;\n      \
             proxy_next_upstream error http_502 non_idempotent;\n      \
             proxy_next_upstream_tries 2;\n      proxy_set_header Host $http_host;\n    }}\n  }}\n}}\n"
        ),
    )
    .expect("nginx.conf");
    let child = crate::deployment::nginx(&[], &prefix, &main)
        .spawn()
        .expect("nginx starts");
    let _nginx = crate::deployment::Nginx {
        child,
        _dir: nginx_dir,
    };
    crate::peers::wait_for_port(proxy, "nginx").await;
    std::fs::write(
        &metadata,
        reqwest::get(format!("{public_url}/saml/metadata"))
            .await
            .expect("metadata")
            .text()
            .await
            .expect("body"),
    )
    .expect("metadata file");

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let signed_in = post_login(&client, &public_url, "alice", "alice-demo-password").await;
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
    let session = session_cookie_of(&signed_in);
    let portal = client
        .get(format!("{public_url}/"))
        .header("cookie", &session)
        .send()
        .await
        .expect("portal")
        .text()
        .await
        .expect("html");
    let token = crate::helpers::hidden_field(&portal, "csrf_token").expect("token");
    // An API token for CLI credentials, made on the tokens page like a person would.
    let created = client
        .post(format!("{public_url}/account/tokens"))
        .header("cookie", &session)
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "laptop"),
            ("days", "1"),
            ("scope", "credentials"),
        ])
        .send()
        .await
        .expect("token page")
        .text()
        .await
        .expect("html");
    let secret = created
        .split("id=\"token-secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the new token is shown")
        .to_string();
    let credentials = {
        let (client, secret, base) = (client.clone(), secret.clone(), public_url.clone());
        move || {
            let (client, secret, base) = (client.clone(), secret.clone(), base.clone());
            async move {
                client
                    .post(format!("{base}/api/v1/credentials"))
                    .header("authorization", format!("Bearer {secret}"))
                    .header("content-type", "application/json")
                    .body(r#"{"role": "arn:aws:iam::123456789012:role/Admin"}"#)
                    .send()
                    .await
            }
        }
    };
    let console = {
        let (client, session, token) = (client.clone(), session.clone(), token.clone());
        move |base: String| {
            let (client, session, token) = (client.clone(), session.clone(), token.clone());
            async move {
                client
                    .post(format!("{base}/saml/aws/sso"))
                    .header("cookie", session)
                    .form(&[
                        ("csrf_token", token.as_str()),
                        ("role", "arn:aws:iam::123456789012:role/Admin"),
                    ])
                    .send()
                    .await
            }
        }
    };

    // Steady load: three console clients and one CLI-credentials client in a loop until told
    // to stop; every answer is counted.
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut load = Vec::new();
    for n in 0..4 {
        let (stop, answered, failed, failures) = (
            stop.clone(),
            answered.clone(),
            failed.clone(),
            failures.clone(),
        );
        let (console, credentials, base) =
            (console.clone(), credentials.clone(), public_url.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let (answer, expected) = if n == 0 {
                    (credentials().await, "AccessKeyId")
                } else {
                    (console(base.clone()).await, "SAMLResponse")
                };
                match answer {
                    Ok(res) if res.status() == reqwest::StatusCode::OK => {
                        let body = res.text().await.unwrap_or_default();
                        if body.contains(expected) {
                            answered.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                        failed.fetch_add(1, Ordering::SeqCst);
                        failures.lock().expect("lock").push(body);
                    }
                    other => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        failures.lock().expect("lock").push(format!("{other:?}"));
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kill = answered.load(Ordering::SeqCst);
    let mut first = first;
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_kill = answered.load(Ordering::SeqCst);

    // Started again with the same command, it serves the same session directly.
    let restarted = instance(port_a, false);
    let direct = console(format!("http://127.0.0.1:{port_a}"))
        .await
        .expect("the restarted instance answers");
    assert_eq!(direct.status(), reqwest::StatusCode::OK);
    assert!(direct.text().await.expect("body").contains("SAMLResponse"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.expect("load task");
    }

    let (answered, failed) = (
        answered.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst),
    );
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed: {:?}",
        answered + failed,
        failures.lock().expect("lock").first()
    );
    assert!(before_kill > 0, "load ran before the kill");
    assert!(
        after_kill > before_kill,
        "sign-ins went on through the survivor ({before_kill} → {after_kill})"
    );
    for mut serving in [second, restarted] {
        let _ = serving.child.kill();
        let _ = serving.child.wait();
    }
}

/// An endpoint that answers every request with 200: a sign-in endpoint that is up.
async fn answering_endpoint() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/saml")
}

/// Sign-in Region health lives in the database: what one instance probed, every instance
/// chooses from (the second never probes, yet passes over the dead Region); and the lease
/// that decides which instance probes has one holder at a time until it runs out.
async fn region_health_is_shared_and_one_instance_probes_for_all(backend: Backend) {
    let (url, _dir) = fresh_database(backend).await;
    let settings = test_settings(&url);
    let open = || fedbroker::startup::open_store(&settings);
    let (first_store, second_store) = (open().await.expect("store"), open().await.expect("store"));
    let dead = format!("http://127.0.0.1:{}/saml", crate::peers::free_port());
    let regions = fedbroker::aws::regions::RegionSettings {
        acs: crate::helpers::entries([
            format!("us-east-2={dead}"),
            format!("us-west-2={}", answering_endpoint().await),
        ]),
        probe_interval_secs: 30,
        probe_timeout_secs: 2,
    };
    let router = |store| {
        fedbroker::aws::regions::RegionRouter::new(
            &regions,
            fedbroker::domain::aws::Partition::Aws,
            store,
        )
        .expect("router")
    };
    let (first, second) = (router(first_store.clone()), router(second_store.clone()));
    // Before any probe, both serve the first configured Region.
    let chosen = second.choose(None).await.expect("choice");
    assert_eq!(chosen.endpoint.region.as_str(), "us-east-2");

    first.probe_all(fedbroker::clock::now()).await;
    let chosen = second.choose(None).await.expect("choice");
    assert_eq!(
        chosen.endpoint.region.as_str(),
        "us-west-2",
        "the instance that did not probe passes over the Region the other found dead"
    );
    let status = second.status().await.expect("status");
    let east = status
        .iter()
        .find(|s| s.endpoint.region.as_str() == "us-east-2")
        .expect("us-east-2");
    assert_eq!(east.health.healthy, Some(false));
    let prober = east.health.probed_by.clone().expect("who probed");
    assert!(
        status
            .iter()
            .all(|s| s.health.probed_by.as_deref() == Some(prober.as_str())),
        "{status:?}"
    );

    // The probe lease: one holder at a time, renewable by it, taken over once it expires.
    let now = 1_000;
    assert!(first_store
        .take_lease("probes", "a", now, 60)
        .await
        .expect("lease"));
    assert!(!second_store
        .take_lease("probes", "b", now + 1, 60)
        .await
        .expect("lease"));
    assert!(first_store
        .take_lease("probes", "a", now + 30, 60)
        .await
        .expect("renewed"));
    assert!(!second_store
        .take_lease("probes", "b", now + 89, 60)
        .await
        .expect("lease"));
    assert!(second_store
        .take_lease("probes", "b", now + 91, 60)
        .await
        .expect("taken over"));
    assert!(!first_store
        .take_lease("probes", "a", now + 92, 60)
        .await
        .expect("lease"));
}

on_both_backends!(region_health_is_shared_and_one_instance_probes_for_all,);

/// STS endpoint health is shared too: the instance that found an endpoint dead paid for it,
/// and another instance's next call goes straight to the healthy one; either instance's
/// Regions page says which instance saw it fail.
async fn sts_endpoint_health_is_shared_between_instances(backend: Backend) {
    use crate::sts::{app_with_sts, audit_of, cli_credentials, Peer, ADMIN_ROLE};
    let moto = Peer::moto().await;
    let dead = format!("http://127.0.0.1:{}", crate::peers::free_port());
    let first = app_with_sts(
        backend,
        vec![
            format!("us-east-2={dead}"),
            format!("us-west-2={}", moto.url()),
        ],
    )
    .await;
    let second = crate::helpers::spawn_second_instance(&first).await;
    second.login("alice", "alice-password-1").await;

    let page = cli_credentials(&first, ADMIN_ROLE).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    let found = &audit_of(&first, "sts.assume_role").await[0];
    assert!(
        found.details.contains(&dead),
        "the first instance tried it: {}",
        found.details
    );

    let page = cli_credentials(&second, ADMIN_ROLE).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    let latest = &audit_of(&second, "sts.assume_role").await[0];
    assert_ne!(latest.id, found.id);
    assert!(
        !latest.details.contains(&dead),
        "the second instance never tried the endpoint the first found dead: {}",
        latest.details
    );

    let admin = crate::helpers::spawn_client_for(&second);
    admin.login_as_admin().await;
    let regions = admin.get("/admin/regions").await;
    let row = regions
        .body
        .split(&format!("data-url=\"{dead}\""))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .expect("dead endpoint listed");
    assert!(row.contains(">down<"), "{row}");
    assert!(
        row.contains("<code>") && row.contains(':'),
        "who saw it: {row}"
    );
}

on_both_backends!(sts_endpoint_health_is_shared_between_instances,);
