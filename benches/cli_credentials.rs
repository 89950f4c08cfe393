//! Time from starting `fedbroker-cli credential-process` to its JSON, the way the AWS SDKs run
//! it (a new process per call): with the credential cached, and fresh (the client asks the
//! broker, which signs an assertion and calls STS — moto's here — and the client caches it).
//!
//! Run: `cargo build --release -p fedbroker-cli && cargo bench --bench cli_credentials`
//! (needs the test peers' moto, `bash .ci/deps test`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use fedbroker::auth::cli_sign_in::{issue_code, redeem, Authorize};
use fedbroker::config::{ConfigSource, Settings};
use fedbroker::directory::local::hash_password;
use fedbroker::domain::account::NewPassword;
use fedbroker::startup::{Application, BuildOptions};
use fedbroker::store::NewUser;
use sha2::{Digest, Sha256};

const ROLE: &str = "arn:aws:iam::123456789012:role/Admin";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/release/fedbroker-cli`, beside this bench's own binary.
fn client() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/release")
        .join("fedbroker-cli");
    assert!(
        bin.exists(),
        "build the client first: cargo build --release -p fedbroker-cli"
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let work = tempfile::tempdir().expect("tempdir");
    let moto_port = free_port();
    let mut moto = Command::new(root().join("tests/peers/.venv/bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server (bash .ci/deps test)");
    while std::net::TcpStream::connect(("127.0.0.1", moto_port)).is_err() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let env = vec![
        ("FEDBROKER__SERVER__PORT".to_string(), "0".to_string()),
        (
            "FEDBROKER__DATABASE__URL".to_string(),
            format!("sqlite://{}/fb.db", work.path().display()),
        ),
        (
            "FEDBROKER__STS__ENDPOINTS".to_string(),
            format!("[\"us-east-2=http://127.0.0.1:{moto_port}\"]"),
        ),
    ];
    let source = ConfigSource {
        dir: Some(root().join("config")),
        profile: None,
    };
    let settings = Settings::load(&source, env).expect("settings");
    let (url, store) = runtime.block_on(async {
        let app = Application::build(
            settings,
            BuildOptions {
                bootstrap_admin_password: Some("bench-admin-password".into()),
            },
        )
        .await
        .expect("broker starts");
        let out = (app.url().to_string(), app.store().clone());
        tokio::spawn(app.run_until_stopped());
        out
    });

    // alice, signed in the way `fedbroker-cli login` leaves her.
    let home = work.path().join("home");
    let now = fedbroker::clock::now();
    let tokens = runtime.block_on(async {
        let hash =
            hash_password(&NewPassword::parse("alice-password-1").expect("valid")).expect("hash");
        store
            .create_user(
                &NewUser {
                    username: "alice",
                    display_name: "Alice",
                    email: "alice@example.com",
                    password_hash: Some(&hash),
                    must_change_password: false,
                },
                &["AWS-123456789012-Admin"],
                now,
            )
            .await
            .expect("user");
        let alice = store
            .user_by_username("alice")
            .await
            .expect("db")
            .expect("alice");
        let verifier = "a-pkce-verifier-of-at-least-forty-three-characters-0123";
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        let redirect = "http://127.0.0.1:1/callback".to_string();
        let request = Authorize {
            redirect_uri: redirect.clone(),
            code_challenge: challenge,
            state: "s".into(),
            device: "bench".into(),
            lifetime_secs: 43_200,
        };
        let code = issue_code(&store, alice.id, &request, now)
            .await
            .expect("code");
        redeem(&store, &code, &redirect, verifier, now)
            .await
            .expect("tokens")
    });
    let config = home.join(".config/fedbroker");
    std::fs::create_dir_all(&config).expect("mkdir");
    std::fs::write(
        config.join("sign-in.json"),
        serde_json::json!({
            "broker": url,
            "refresh_token": tokens.refresh_token,
            "refresh_expires_at": tokens.refresh_expires_at,
            "access_token": tokens.access_token,
            "access_expires_at": now + tokens.expires_in,
        })
        .to_string(),
    )
    .expect("sign-in");
    let bin = client();
    let run = || {
        let out = Command::new(&bin)
            .args(["credential-process", "--role", ROLE])
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let cache = home.join(".cache/fedbroker/credentials");
    run();

    let mut group = c.benchmark_group("credential_process");
    group.sample_size(30);
    group.bench_function("cached", |b| b.iter(run));
    group.bench_function("fresh", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_dir_all(&cache);
            },
            |_| run(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
    let _ = moto.kill();
    let _ = moto.wait();
}

criterion_group!(benches, bench);
criterion_main!(benches);
