//! `fedbroker-cli` as an engineer uses it: `login` through headless Chromium, then the AWS CLI
//! (a real AWS client) taking credentials from `credential-process` against moto's STS, cached,
//! refreshed, fetched once for a burst of callers, and refused with the documented exit code
//! once the sign-in is revoked.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestApp};
use crate::sts::{app_with_sts, Peer};

const ROLE: &str = "arn:aws:iam::123456789012:role/Admin";

/// The client binary, built beside the server's by `cargo nextest run --workspace`.
fn client_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = dir.join("fedbroker-cli");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace (`cargo build --workspace`)",
        bin.display()
    );
    bin
}

/// A laptop: its own HOME, where the client keeps its sign-in and cache.
struct Laptop {
    home: tempfile::TempDir,
}

impl Laptop {
    fn new() -> Laptop {
        Laptop {
            home: tempfile::tempdir().expect("home"),
        }
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("FEDBROKER_URL")
            .stdin(Stdio::null());
        cmd
    }

    fn client(&self, args: &[&str]) -> std::process::Output {
        self.command(&client_bin())
            .args(args)
            .output()
            .expect("fedbroker-cli runs")
    }

    fn sign_in_file(&self) -> PathBuf {
        self.home.path().join(".config/fedbroker/sign-in.json")
    }

    fn sign_in(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.sign_in_file()).expect("sign-in")).expect("JSON")
    }

    /// Edits the stored sign-in, as time passing would.
    fn age_sign_in(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut value = self.sign_in();
        edit(&mut value);
        std::fs::write(self.sign_in_file(), value.to_string()).expect("write");
    }

    fn cached_credentials(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.home.path().join(".cache/fedbroker/credentials"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `aws sts get-caller-identity` with the profile that runs `credential-process`.
    fn caller_identity(&self, moto: &Peer) -> serde_json::Value {
        let path = format!(
            "{}:{}",
            std::env::var("PATH").unwrap_or_default(),
            crate::peers::peers_dir().join(".venv/bin").display()
        );
        let out = self
            .command(Path::new("aws"))
            .args([
                "sts",
                "get-caller-identity",
                "--profile",
                "fb",
                "--output",
                "json",
            ])
            .env("PATH", path)
            .env("AWS_ENDPOINT_URL_STS", moto.url())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .expect("the AWS CLI runs");
        assert!(
            out.status.success(),
            "aws: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    }
}

/// `login --no-browser`, with Chromium doing what the person would in the browser.
async fn signed_in_laptop(app: &TestApp, user: &str, password: &str) -> Laptop {
    let laptop = Laptop::new();
    let mut child = laptop
        .command(&client_bin())
        .args([
            "login",
            "--broker",
            &app.address,
            "--no-browser",
            "--lifetime",
            "7200",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("login starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("login prints the address");
        if let Some(url) = line
            .trim()
            .strip_prefix(&format!("{}/oauth/authorize?", app.address))
        {
            break format!("{}/oauth/authorize?{url}", app.address);
        }
    };
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{url}"
    );
    let (_, shot) = crate::browser::screenshot("cli-consent.png");
    let out = crate::browser::run_script(
        "cli_login.mjs",
        vec![url, user.into(), password.into(), shot],
    )
    .await;
    assert!(out.contains("lifetime=2 hours"), "{out}");
    assert!(out.contains("callback=Signed in."), "{out}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "login did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    let said: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "login failed: {said:?}");
    let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(
        mode(&laptop.sign_in_file()),
        0o600,
        "the tokens are private"
    );
    assert_eq!(mode(laptop.sign_in_file().parent().expect("dir")), 0o700);
    laptop
}

#[test]
fn the_client_links_none_of_the_servers_libraries() {
    let out = Command::new("ldd")
        .arg(client_bin())
        .output()
        .expect("ldd runs");
    let libraries = String::from_utf8_lossy(&out.stdout);
    assert!(libraries.contains("libc.so"), "{libraries}");
    for server_only in [
        "xmlsec",
        "libxml2",
        "libssl",
        "libcrypto",
        "libpq",
        "libsqlite",
    ] {
        assert!(
            !libraries.contains(server_only),
            "fedbroker-cli links {server_only}:\n{libraries}"
        );
    }
}

// Several threads: the test waits for the client and the AWS CLI synchronously, and the broker's
// database pool must keep being served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_one_browser_sign_in_the_aws_cli_gets_credentials_that_refresh_themselves() {
    let moto = Peer::moto().await;
    let app = app_with_sts(Backend::Sqlite, vec![format!("us-east-2={}", moto.url())]).await;
    let laptop = signed_in_laptop(&app, "alice", "alice-password-1").await;

    let roles = laptop.client(&["roles", "--json"]);
    assert!(
        roles.status.success(),
        "{}",
        String::from_utf8_lossy(&roles.stderr)
    );
    let roles: serde_json::Value = serde_json::from_slice(&roles.stdout).expect("JSON");
    assert_eq!(roles["roles"][0]["role_arn"], ROLE);

    let aws = laptop.home.path().join(".aws");
    std::fs::create_dir_all(&aws).expect("mkdir");
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile fb]\ncredential_process = {} credential-process --role {ROLE}\nregion = us-east-1\n",
            client_bin().display()
        ),
    )
    .expect("write");
    let sts_calls = || async {
        app.count("SELECT COUNT(*) FROM audit_events WHERE event_type = 'sts.assume_role'")
            .await
    };

    let me = laptop.caller_identity(&moto);
    let arn = me["Arn"].as_str().expect("Arn");
    assert!(arn.contains(":assumed-role/Admin/alice"), "{arn}");
    assert_eq!(sts_calls().await, 1);
    // Cached: the second command asks the broker nothing.
    laptop.caller_identity(&moto);
    assert_eq!(sts_calls().await, 1, "served from the cache");
    let cache = laptop.cached_credentials();
    assert_eq!(cache.len(), 1);
    assert_eq!(
        std::fs::metadata(&cache[0])
            .expect("cache")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // Near expiry, with the access token also run out: the client refreshes its sign-in
    // (the refresh token rotates) and fetches new credentials.
    let mut cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache[0]).expect("read")).expect("JSON");
    cached["expires_at"] = serde_json::json!(fedbroker::clock::now() + 60);
    std::fs::write(&cache[0], cached.to_string()).expect("write");
    let refresh_before = laptop.sign_in()["refresh_token"].clone();
    laptop.age_sign_in(|s| s["access_expires_at"] = serde_json::json!(0));
    laptop.caller_identity(&moto);
    assert_eq!(sts_calls().await, 2, "renewed before expiry");
    assert_ne!(laptop.sign_in()["refresh_token"], refresh_before, "rotated");

    // A burst of callers with nothing cached: one fetch, the others read it.
    std::fs::remove_file(&cache[0]).expect("rm");
    let bin = client_bin();
    let burst: Vec<_> = (0..6)
        .map(|_| {
            laptop
                .command(&bin)
                .args(["credential-process", "--role", ROLE])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let keys: std::collections::BTreeSet<String> = burst
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait");
            assert!(out.status.success());
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            assert_eq!(v["Version"], 1);
            v["AccessKeyId"].as_str().expect("key").to_string()
        })
        .collect();
    assert_eq!(keys.len(), 1, "every caller got the one fetch");
    assert_eq!(sts_calls().await, 3);

    // Profiles for every role; foreign profiles (`fb` above) are never touched.
    let config = aws.join("config");
    let foreign = std::fs::read_to_string(&config).expect("config");
    let out = laptop.client(&["configure", "--dry-run", "--region", "eu-west-1"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("+ [profile 123456789012-admin]"), "{said}");
    assert!(said.contains("dry run"), "{said}");
    assert_eq!(std::fs::read_to_string(&config).expect("config"), foreign);
    let out = laptop.client(&["configure", "--region", "eu-west-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&config).expect("config");
    assert!(written.starts_with(&foreign), "{written}");
    assert!(written.contains("[profile 123456789012-admin]\n# managed by fedbroker-cli"));
    let out = laptop.client(&["configure", "--region", "eu-west-1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("is up to date"));
    assert_eq!(
        std::fs::read_to_string(&config).expect("config"),
        written,
        "idempotent"
    );

    // One command with the credentials of a profile in its environment.
    let out = laptop.client(&[
        "exec",
        "--profile",
        "123456789012-admin",
        "--",
        "sh",
        "-c",
        "echo \"$AWS_ACCESS_KEY_ID $AWS_REGION\"",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    let key = keys.iter().next().expect("a key");
    assert_eq!(said.trim(), format!("{key} eu-west-1"));

    // A role the person does not have: the broker's reason, exit code 1.
    let out = laptop.client(&[
        "console",
        "--role",
        "arn:aws:iam::123456789012:role/NotMine",
        "--print",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("is not one of your roles"), "{said}");
    assert!(
        said.contains("ask your AWS administrators"),
        "whom to ask: {said}"
    );

    // Signed out by an admin (a lost laptop): the next fetch says to sign in again, with exit
    // code 2.
    let out = Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .args(["user", "signout", "alice"])
        .env("FEDBROKER_CONFIG_DIR", crate::helpers::config_dir())
        .env("FEDBROKER__DATABASE__URL", &app.settings.database.url)
        .env(
            "FEDBROKER__SAML__KEY_ENCRYPTION_KEY",
            app.settings.saml.key_encryption_key.expose(),
        )
        .env_remove("RUST_LOG")
        .output()
        .expect("fedbroker runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("1 command-line sign-in(s) revoked"), "{said}");
    for f in laptop.cached_credentials() {
        std::fs::remove_file(f).expect("rm");
    }
    let out = laptop.client(&["credential-process", "--role", ROLE]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("run `fedbroker-cli login`"), "{said}");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unreachable_broker_is_named_with_what_to_check() {
    let laptop = Laptop::new();
    let config = laptop.home.path().join(".config/fedbroker");
    std::fs::create_dir_all(&config).expect("mkdir");
    let port = crate::peers::free_port();
    std::fs::write(
        config.join("sign-in.json"),
        serde_json::json!({
            "broker": format!("http://127.0.0.1:{port}"),
            "refresh_token": "fbr_x", "refresh_expires_at": i64::MAX / 2,
            "access_token": "fbt_x", "access_expires_at": i64::MAX / 2,
        })
        .to_string(),
    )
    .expect("write");
    let out = laptop.client(&["credential-process", "--role", ROLE]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!(
            "the broker at http://127.0.0.1:{port} cannot be reached"
        )) && said.contains("check the address and your network"),
        "{said}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn without_a_sign_in_every_command_says_to_log_in() {
    let laptop = Laptop::new();
    for args in [&["roles"][..], &["credential-process", "--role", ROLE][..]] {
        let out = laptop.client(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("not signed in; run `fedbroker-cli login`"),
            "{said}"
        );
    }
}
