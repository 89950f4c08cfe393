//! The `fedbroker` binary itself: configuration errors, the bootstrap password, logs, CLI
//! commands, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{config_dir, hidden_field};

pub(crate) fn fedbroker(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedbroker"));
    in_broker_env(&mut cmd, dir);
    cmd
}

/// Runs `cmd` in `dir` with the test configuration and a SQLite database of its own there.
fn in_broker_env(cmd: &mut Command, dir: &std::path::Path) {
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("FEDBROKER_PROFILE")
        .env_remove("FEDBROKER_BOOTSTRAP_ADMIN_PASSWORD")
        .env("FEDBROKER_CONFIG_DIR", config_dir())
        // Stop at once on SIGTERM; `sigterm_drains_before_the_listener_closes` tests the drain.
        .env("FEDBROKER__SERVER__DRAIN_SECS", "0")
        .env(
            "FEDBROKER__DATABASE__URL",
            format!("sqlite://{}/fb.db", dir.display()),
        );
}

/// A running `serve`: the process, its output lines (read on threads), the lines seen so far
/// (up to the listening notice), and its URL.
pub(crate) struct Serving {
    pub child: Child,
    pub rx: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    pub url: String,
}

/// Starts `cmd` (a `serve`) on a free port with its stdout and stderr read line by line, and
/// returns once it says where it listens.
pub(crate) fn start_serving(cmd: &mut Command) -> Serving {
    if !cmd.get_envs().any(|(k, _)| k == "FEDBROKER__SERVER__PORT") {
        cmd.env("FEDBROKER__SERVER__PORT", "0");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    let line = wait_for(&rx, &mut seen, "fedbroker is listening on");
    let url = line.trim().rsplit(' ').next().expect("url").to_string();
    Serving {
        child,
        rx,
        seen,
        url,
    }
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (var, value, expected) in [
        ("FEDBROKER__SERVER__PORT", "eighty", "server.port"),
        ("FEDBROKER__SERVER__PROT", "80", "server.prot"),
        ("FEDBROKER__LOG__FORMAT", "xml", "log.format"),
        ("FEDBROKER__SERVER__HOST", "0.0.0.0", "allow_insecure_http"),
    ] {
        for sub in [&["check-config"][..], &["serve"][..]] {
            let out = fedbroker(dir.path())
                .args(sub)
                .env(var, value)
                .output()
                .expect("runs");
            assert_eq!(out.status.code(), Some(2), "{var}={value} {sub:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("configuration error"), "{stderr}");
            assert!(stderr.contains(expected), "{var}: {stderr}");
        }
    }
}

/// Environment variables, the key the error must name, and words of the fix it must give.
type PreflightCase = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

/// The preflight: every setting that would fail or hurt at run time is refused by
/// `check-config` and by `serve` alike, with exit code 2, the key, and the fix, before anything
/// is written.
#[test]
fn every_bad_setting_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    const KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let cases: &[PreflightCase] = &[
        (
            &[
                ("FEDBROKER__SERVER__TLS_CERT", "/nonexistent/cert.pem"),
                ("FEDBROKER__SERVER__TLS_KEY", "/nonexistent/key.pem"),
            ],
            "server.tls_cert",
            "cannot read",
        ),
        (
            &[(
                "FEDBROKER__SAML__KEY_ENCRYPTION_KEY_FILE",
                "/nonexistent/kek",
            )],
            "saml.key_encryption_key_file",
            "cannot read",
        ),
        (
            &[
                ("FEDBROKER__SAML__KEY_ENCRYPTION_KEY", KEK),
                ("FEDBROKER__SAML__KEY_ENCRYPTION_KEY_FILE", "/etc/hostname"),
            ],
            "saml.key_encryption_key",
            "keep one",
        ),
        (
            &[("FEDBROKER__DATABASE__URL", "postgres://fed@db.internal/fed")],
            "saml.key_encryption_key",
            "openssl rand -base64 32",
        ),
        (
            &[("FEDBROKER__METRICS__LISTEN", "0.0.0.0:9464")],
            "metrics.listen",
            "set metrics.token too",
        ),
        (
            &[("FEDBROKER__METRICS__LISTEN", "localhost:9464")],
            "metrics.listen",
            "127.0.0.1:9464",
        ),
        (
            &[("FEDBROKER__METRICS__TOKEN", "short")],
            "metrics.token",
            "openssl rand -hex 24",
        ),
        (
            &[("FEDBROKER__SAML__PREVIOUS_KEY_ENCRYPTION_KEY", "not base64")],
            "saml.previous_key_encryption_key",
            "base64",
        ),
        (
            &[("FEDBROKER__REGIONS__ACS", "[\"us-eats-1\"]")],
            "regions.acs",
            "did you mean `us-east-1`",
        ),
        (
            &[("FEDBROKER__REGIONS__ACS", "[\"us-east-1\", \"us-east-1\"]")],
            "regions.acs",
            "listed twice",
        ),
        (
            &[("FEDBROKER__REGIONS__ACS", "[\"cn-north-1\"]")],
            "regions.acs",
            "partition `aws-cn`",
        ),
        (
            &[("FEDBROKER__STS__ENDPOINTS", "[\"us-gov-west-1\"]")],
            "sts.endpoints",
            "partition `aws-us-gov`",
        ),
        (
            &[(
                "FEDBROKER__REGIONS__ACS",
                "[\"us-east-1=http://evil.example.com/saml\"]",
            )],
            "regions.acs",
            "must be https://",
        ),
        (
            &[("FEDBROKER__REGIONS__ACS", "[\"us-east-1=notaurl\"]")],
            "regions.acs",
            "must be https://",
        ),
        (
            &[("FEDBROKER__SAML__ENTITY_ID", "not a uri")],
            "saml.entity_id",
            "absolute URI",
        ),
        (
            &[(
                "FEDBROKER__SERVER__PUBLIC_URL",
                "https://broker.example.com/path",
            )],
            "server.public_url",
            "no path",
        ),
        (
            &[
                ("FEDBROKER__SERVER__HOST", "0.0.0.0"),
                ("FEDBROKER__SERVER__ALLOW_INSECURE_HTTP", "true"),
            ],
            "server.public_url",
            "set server.public_url",
        ),
        (
            &[("FEDBROKER__SAML__PRINCIPAL_TAGS", "[\"aws:Email={email}\"]")],
            "saml.principal_tags",
            "reserves",
        ),
    ];
    for (vars, key, fix) in cases {
        for sub in ["check-config", "serve"] {
            let mut cmd = fedbroker(dir.path());
            cmd.arg(sub);
            for (k, v) in *vars {
                cmd.env(k, v);
            }
            let out = cmd.output().expect("runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{vars:?} {sub}: {stderr}");
            assert!(
                stderr.contains("configuration error")
                    && stderr.contains(key)
                    && stderr.contains(fix),
                "{vars:?} {sub}: `{stderr}` should name `{key}` and say `{fix}`"
            );
            assert!(
                !dir.path().join("fb.db").exists(),
                "{vars:?} {sub}: nothing may be written before the settings are valid"
            );
        }
    }
}

#[test]
fn check_config_prints_the_effective_configuration_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = fedbroker(dir.path())
        .arg("check-config")
        .env(
            "FEDBROKER__DATABASE__URL",
            "postgres://fed:hunter2-secret@db.internal/fed",
        )
        .env(
            "FEDBROKER__SAML__KEY_ENCRYPTION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .env("FEDBROKER__SERVER__PORT", "9443")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("port = 9443"), "{stdout}");
    assert!(
        stdout.contains("postgres://fed:***@db.internal/fed"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2-secret"));
}

#[test]
fn user_and_group_commands_manage_the_local_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = fedbroker(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write");
        }
        child.wait_with_output().expect("finishes")
    };
    assert!(run(&["migrate"], None).status.success());
    let out = run(
        &[
            "user",
            "add",
            "carol",
            "--display-name",
            "Carol",
            "--group",
            "AWS-123456789012-Admin",
            "--password-stdin",
        ],
        Some("carol-password-1\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &["user", "add", "carol", "--password-stdin"],
        Some("carol-password-1\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    let out = run(&["user", "add", "dave"], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("one-time password"), "{stdout}");
    let out = run(
        &["user", "add", "weak", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12"));

    assert!(run(&["group", "add", "ops"], None).status.success());
    assert!(run(&["group", "member", "ops", "carol"], None)
        .status
        .success());
    let out = run(&["group", "member", "nope", "carol"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("group `nope` does not exist"));
    let listing = String::from_utf8_lossy(&run(&["group", "list"], None).stdout).to_string();
    assert!(listing.contains("ops\t1 member"), "{listing}");
    // The user list says where an admin's right comes from.
    let _ = run(&["group", "add", "fedbroker-admins"], None);
    assert!(run(&["group", "member", "fedbroker-admins", "dave"], None)
        .status
        .success());
    let users = String::from_utf8_lossy(&run(&["user", "list"], None).stdout).to_string();
    let dave = users
        .lines()
        .find(|l| l.starts_with("dave\t"))
        .unwrap_or_default();
    assert!(
        dave.ends_with("\t(admin via local group `fedbroker-admins`)"),
        "{users}"
    );
    assert!(!users
        .lines()
        .any(|l| l.starts_with("carol\t") && l.contains("admin via")));

    assert!(run(&["user", "disable", "carol"], None).status.success());
    let users = String::from_utf8_lossy(&run(&["user", "list"], None).stdout).to_string();
    assert!(users.contains("carol\tCarol\t\t(disabled)"), "{users}");
    assert!(run(&["user", "enable", "carol"], None).status.success());
    assert!(run(
        &["user", "passwd", "carol", "--password-stdin"],
        Some("carol-password-2\n")
    )
    .status
    .success());
    let users = String::from_utf8_lossy(&run(&["user", "list"], None).stdout).to_string();
    assert!(!users.contains("(disabled)"), "{users}");
}

/// Marks a line that came from the child's stderr (human notices) rather than stdout (logs).
pub(crate) const STDERR: &str = "stderr| ";

/// Reads the child's stdout, and its stderr when piped (lines marked with [`STDERR`]), on
/// threads, so the test can wait for lines with a deadline.
pub(crate) fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout piped");
    let out = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if out.send(line).is_err() {
                break;
            }
        }
    });
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(format!("{STDERR}{line}")).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

pub(crate) fn wait_for(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    needle: &str,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
    panic!(
        "no line containing {needle:?}; output so far:\n{}",
        seen.join("\n")
    );
}

pub(crate) fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Opens the login page like a browser: its CSRF cookie (`name=value`) and the form's token.
pub(crate) async fn login_form(client: &reqwest::Client, url: &str) -> (String, String) {
    let form = client
        .get(format!("{url}/login"))
        .send()
        .await
        .expect("login page");
    let cookie = form.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let token = hidden_field(&form.text().await.expect("html"), "csrf_token").expect("token");
    (cookie, token)
}

/// Signs in over HTTP like a browser (login page, its CSRF cookie, the form) and returns the
/// response to the form.
pub(crate) async fn post_login(
    client: &reqwest::Client,
    url: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let (cookie, token) = login_form(client, url).await;
    client
        .post(format!("{url}/login"))
        .header("cookie", cookie)
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await
        .expect("sign-in")
}

/// The session cookie (`name=value`) a sign-in response set.
pub(crate) fn session_cookie_of(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-fedbroker-session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string()
}

/// Runs `serve` without a terminal, signs in with the one-time password from the file the notice
/// names, stops with SIGTERM. Returns the output lines, the one-time password and the session
/// cookie value.
fn serve_and_sign_in(format: &str) -> (Vec<String>, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Serving {
        mut child,
        rx,
        mut seen,
        url,
    } = start_serving(
        fedbroker(dir.path())
            .arg("serve")
            .env("FEDBROKER__SERVER__WORKERS", "1")
            .env("FEDBROKER__LOG__FORMAT", format),
    );
    let notice = seen
        .iter()
        .find(|l| l.contains("Its one-time password is in"))
        .expect("the first-start notice comes before the listening one");
    assert!(
        notice.starts_with(STDERR),
        "the notice is on stderr: {notice}"
    );
    let file = dir.path().join("admin-one-time-password");
    assert!(notice.contains(&file.display().to_string()), "{notice}");
    let mode = std::fs::metadata(&file)
        .expect("password file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "only the broker's user reads it");
    let password = std::fs::read_to_string(&file)
        .expect("read")
        .trim()
        .to_string();
    assert!(password.len() >= 16, "{password:?}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let session = runtime.block_on(async {
        // A timeout, so that a request racing the shutdown can never hang the test.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let res = post_login(&client, &url, "admin", &password).await;
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "the printed one-time password signs in"
        );
        assert_eq!(res.headers()["location"], "/account/password");
        let session = session_cookie_of(&res)
            .trim_start_matches("__Host-fedbroker-session=")
            .to_string();
        wait_for(&rx, &mut seen, "signed in");
        // Slow shutdown must still finish the request in flight: start one, then SIGTERM.
        let health = client.get(format!("{url}/healthz")).send();
        terminate(&child);
        let _ = health.await;
        session
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        seen.push(line);
    }
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert!(
        seen.iter()
            .any(|l| l.contains("graceful shutdown") || l.contains("fedbroker stopped")),
        "{seen:?}"
    );
    (seen, password, session)
}

/// SIGTERM drains: `/readyz` says "draining" while requests are still served, so that a load
/// balancer's health check takes the instance out before the listener closes; then it exits 0.
#[test]
fn sigterm_drains_before_the_listener_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `_rx` keeps reading the broker's output: a closed pipe would fail its log writes.
    let Serving {
        child,
        url,
        rx: _rx,
        ..
    } = start_serving(
        fedbroker(dir.path())
            .arg("serve")
            .env("FEDBROKER__SERVER__DRAIN_SECS", "3"),
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let ready = client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(ready.status(), StatusCode::OK);
        let signalled = Instant::now();
        terminate(&child);
        // Draining is reported at once...
        let draining = loop {
            let res = client
                .get(format!("{url}/readyz"))
                .send()
                .await
                .expect("readyz");
            if res.status() == StatusCode::SERVICE_UNAVAILABLE {
                break res.text().await.expect("body");
            }
            assert!(
                signalled.elapsed() < Duration::from_secs(1),
                "not draining 1 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(draining.contains("\"draining\""), "{draining}");
        // ...while requests are still served, until the drain ends.
        let served = client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .expect("served");
        assert_eq!(served.status(), StatusCode::OK);
        assert!(
            signalled.elapsed() < Duration::from_secs(3),
            "the drain was cut short"
        );
    });
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "did not stop after the drain");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status after the drain: {status:?}");
}

#[test]
fn serve_prints_a_working_one_time_password_never_logs_secrets_and_stops_on_sigterm() {
    let (lines, password, session_value) = serve_and_sign_in("text");
    let logs: Vec<&String> = lines.iter().collect();
    assert!(
        logs.iter().all(|l| !l.contains(&password)),
        "without a terminal the one-time password is only in its file, never in the output"
    );
    let event = logs
        .iter()
        .find(|l| !l.starts_with(STDERR) && l.contains("first start"))
        .expect("a log event for the first start");
    assert!(event.contains("password_file="), "{event}");
    assert!(
        logs.iter().all(|l| !l.contains(&session_value)),
        "session id leaked into logs"
    );
    let request_lines: Vec<_> = logs
        .iter()
        .filter(|l| l.contains("request finished"))
        .collect();
    assert!(!request_lines.is_empty());
    assert!(
        request_lines.iter().all(|l| l.contains("request_id=")),
        "{request_lines:?}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_the_request_id() {
    let (lines, password, session) = serve_and_sign_in("json");
    // Everything on stdout is JSON; the human notices are on stderr.
    let json_lines: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| !l.starts_with(STDERR))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let first_start = json_lines
        .iter()
        .find(|v| v["event"] == "first_start")
        .expect("the first start is a JSON event");
    assert!(
        first_start["password_file"]
            .as_str()
            .is_some_and(|p| p.ends_with("admin-one-time-password")),
        "{first_start}"
    );
    assert!(first_start["login_url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/login")));
    let finished: Vec<_> = json_lines
        .iter()
        .filter(|v| v["message"] == "request finished")
        .collect();
    assert!(!finished.is_empty(), "{lines:?}");
    for v in finished {
        assert!(
            v["span"]["request_id"]
                .as_str()
                .is_some_and(|id| id.len() == 36),
            "{v}"
        );
    }
    assert!(json_lines
        .iter()
        .all(|v| !v.to_string().contains(&password)));
    assert!(lines.iter().all(|l| !l.contains(&session)));
}

#[test]
fn on_a_terminal_the_one_time_password_is_shown_there_and_no_file_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `script` gives the broker a pseudo-terminal, as an operator's console would. `timeout`
    // passes a SIGTERM on to the broker, and bounds the run should the test fail before
    // stopping it.
    let command = format!("exec timeout 120 {} serve", env!("CARGO_BIN_EXE_fedbroker"));
    let mut script = Command::new("script");
    in_broker_env(&mut script, dir.path());
    let Serving {
        mut child,
        rx: _rx,
        seen,
        ..
    } = start_serving(
        script
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .env("FEDBROKER__SERVER__WORKERS", "1")
            .stdin(Stdio::null()),
    );
    let line = seen
        .iter()
        .find(|l| l.contains("One-time password:"))
        .expect("the password on the terminal, before the listening notice");
    let password = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("password")
        .to_string();
    assert!(password.len() >= 16, "{line}");
    assert!(
        !dir.path().join("admin-one-time-password").exists(),
        "no file when a terminal shows the password"
    );
    let logged = seen.iter().filter(|l| l.contains(&password)).count();
    assert_eq!(logged, 1, "shown once, in the notice only: {seen:?}");
    // SIGTERM to `timeout` (the child of `script`), which hands it to the broker.
    let stopped = Command::new("pkill")
        .args(["-TERM", "-P", &child.id().to_string()])
        .status()
        .expect("pkill runs");
    assert!(stopped.success());
    let _ = child.wait();
}

#[test]
fn a_start_that_fails_leaves_no_admin_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let not_a_key = dir.path().join("key.pem");
    std::fs::write(&not_a_key, "not a key").expect("write");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_path = dir.path().join("cert.pem");
    std::fs::write(&cert_path, cert.cert.pem()).expect("write");
    let failures: [(&[(&str, &str)], &str); 2] = [
        (&[("FEDBROKER__SERVER__PORT", &port)], "cannot listen on"),
        (
            &[
                ("FEDBROKER__SERVER__PORT", "0"),
                (
                    "FEDBROKER__SERVER__TLS_CERT",
                    cert_path.to_str().expect("utf-8"),
                ),
                (
                    "FEDBROKER__SERVER__TLS_KEY",
                    not_a_key.to_str().expect("utf-8"),
                ),
            ],
            "server.tls_key",
        ),
    ];
    for (env, expected) in failures {
        let out = fedbroker(dir.path())
            .arg("serve")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{env:?} must not start");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
        assert!(!stderr.contains("First start"), "{stderr}");
        assert!(!dir.path().join("admin-one-time-password").exists());
        let (ok, users, err) = run_cli(dir.path(), &["user", "list"]);
        assert!(ok, "{err}");
        assert!(!users.contains("admin"), "no admin after {env:?}: {users}");
    }
    drop(taken);
}

/// Runs the binary in `dir` and returns (success, stdout, stderr).
fn run_cli(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = fedbroker(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn rules_export_and_import_round_trip_and_a_broken_import_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = config_dir().join("rules.example.yaml");
    let example = example.to_str().expect("utf-8 path");

    let (ok, out, err) = run_cli(dir.path(), &["rules", "import", example, "--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.contains("+ rule `Okta convention`"), "{out}");
    assert!(out.contains("dry run: nothing was changed"));
    let (_, untouched, _) = run_cli(dir.path(), &["rules", "export"]);
    assert!(
        !untouched.contains("Okta convention"),
        "the dry run changed nothing"
    );

    let (ok, out, err) = run_cli(dir.path(), &["rules", "import", example]);
    assert!(ok, "{err}");
    assert!(
        out.contains("imported 4 rules and 2 account aliases"),
        "{out}"
    );
    let (_, first, _) = run_cli(dir.path(), &["rules", "export"]);
    assert!(first.contains("Contractors never get production"));
    let exported = dir.path().join("exported.yaml");
    std::fs::write(&exported, &first).expect("write");
    let (ok, out, _) = run_cli(
        dir.path(),
        &["rules", "import", exported.to_str().expect("utf-8")],
    );
    assert!(ok);
    assert!(
        out.contains("no changes"),
        "export → import is lossless: {out}"
    );
    let (_, second, _) = run_cli(dir.path(), &["rules", "export"]);
    assert_eq!(first, second);

    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        first
            .replace("match: contractors", "match: contractors(")
            .replace("name: Payments", "name: Payments Renamed"),
    )
    .expect("write");
    let (ok, _, err) = run_cli(
        dir.path(),
        &["rules", "import", broken.to_str().expect("utf-8")],
    );
    assert!(!ok);
    assert!(
        err.contains("rules[3] (Contractors never get production): match:"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"));
    let (_, after, _) = run_cli(dir.path(), &["rules", "export"]);
    assert_eq!(
        after, first,
        "the valid half of a broken file was not applied"
    );

    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "rules",
            "test",
            "--groups",
            "AWS-123456789012-Admin,contractors,data-analysts",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("+ arn:aws:iam::210987654321:role/DataReadOnly via rule `Data team read-only` from group `data-analysts`"),
        "{out}"
    );
    assert!(out.contains(
        "- arn:aws:iam::123456789012:role/Admin denied by rule `Contractors never get production`"
    ));
    let (ok, _, err) = run_cli(dir.path(), &["rules", "test", "--user", "nobody"]);
    assert!(!ok);
    assert!(err.contains("There is no user `nobody`"), "{err}");

    // The preview names the issuer the server signs with (here the default listener's URL).
    let (ok, out, err) = run_cli(
        dir.path(),
        &[
            "rules",
            "test",
            "--groups",
            "AWS-123456789012-Admin",
            "--xml",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("<saml:Issuer>http://localhost:8080/saml/metadata</saml:Issuer>"),
        "{out}"
    );
}

/// Even at `RUST_LOG=trace`, credentials STS hands out never reach the log.
#[test]
fn credentials_never_reach_the_log_even_at_trace_level() {
    let moto = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(crate::sts::Peer::moto());
    let dir = tempfile::tempdir().expect("tempdir");
    let Serving {
        mut child,
        rx,
        mut seen,
        url,
    } = start_serving(
        fedbroker(dir.path())
            .args(["serve", "--demo"])
            .env("FEDBROKER__SERVER__WORKERS", "1")
            .env(
                "FEDBROKER__STS__ENDPOINTS",
                format!("[\"us-east-2={}\"]", moto.url()),
            )
            .env("RUST_LOG", "trace"),
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let page = runtime.block_on(async {
        // A timeout, so that a request racing the shutdown can never hang the test.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let res = post_login(&client, &url, "alice", "alice-demo-password").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let session = session_cookie_of(&res);
        let portal = client
            .get(format!("{url}/"))
            .header("cookie", &session)
            .send()
            .await
            .expect("portal");
        let csrf = hidden_field(&portal.text().await.expect("html"), "csrf_token").expect("csrf");
        let page = client
            .post(format!("{url}/credentials"))
            .header("cookie", &session)
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("role", "arn:aws:iam::123456789012:role/Admin"),
            ])
            .send()
            .await
            .expect("credentials");
        assert_eq!(page.status(), StatusCode::OK);
        page.text().await.expect("html")
    });
    let field = |prefix: &str| {
        page.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_string))
            .unwrap_or_else(|| panic!("{prefix} on the page"))
    };
    let secret = field("export AWS_SECRET_ACCESS_KEY=");
    let token = field("export AWS_SESSION_TOKEN=");
    let token = token.split('<').next().unwrap_or_default().to_string();
    terminate(&child);
    let _ = child.wait();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
        seen.push(line);
    }
    assert!(seen.len() > 10, "trace logging is on: {seen:?}");
    assert!(
        seen.iter()
            .any(|l| l.contains("audit event") && l.contains("sts.assume_role")),
        "the STS call is in the log as an audit line"
    );
    for line in &seen {
        assert!(!line.contains(&secret), "secret key logged: {line}");
        assert!(
            !line.contains(&token[..40.min(token.len())]),
            "session token logged: {line}"
        );
    }
}

/// A key-encryption key that cannot read the key ring can neither add nor activate a key (it
/// would break every instance holding the right one).
#[test]
fn a_wrong_key_encryption_key_cannot_add_or_activate_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let right = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let wrong = "d3Jvbmcta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU=";
    let keys = |kek: &str, args: &[&str]| {
        let out = fedbroker(dir.path())
            .arg("keys")
            .args(args)
            .env("FEDBROKER__SAML__KEY_ENCRYPTION_KEY", kek)
            .stdin(Stdio::null())
            .output()
            .expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = keys(right, &["add"]);
    assert!(ok, "{err}");
    let kid = out
        .split("added key ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the new key's id")
        .to_string();
    let (ok, _, err) = keys(wrong, &["add"]);
    assert!(!ok, "a wrong key-encryption key must not add a key");
    assert!(err.contains("key-encryption key"), "{err}");
    let (ok, _, err) = keys(wrong, &["activate", &kid]);
    assert!(!ok, "a wrong key-encryption key must not activate a key");
    assert!(err.contains("cannot be activated"), "{err}");
    let (_, list, _) = keys(right, &["list"]);
    assert_eq!(list.lines().count(), 1, "nothing was added: {list}");
    let (ok, _, err) = keys(right, &["activate", &kid]);
    assert!(ok, "{err}");
}

#[test]
fn the_key_encryption_key_is_rotated_with_the_previous_one_and_a_reseal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let new = "bmV3LWtleS1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyE=";
    let keys = |kek: &str, previous: Option<&str>, args: &[&str]| {
        let mut cmd = fedbroker(dir.path());
        cmd.arg("keys")
            .args(args)
            .env("FEDBROKER__SAML__KEY_ENCRYPTION_KEY", kek)
            .stdin(Stdio::null());
        if let Some(previous) = previous {
            cmd.env("FEDBROKER__SAML__PREVIOUS_KEY_ENCRYPTION_KEY", previous);
        }
        let out = cmd.output().expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, _, err) = keys(old, None, &["add"]);
    assert!(ok, "{err}");
    let (ok, _, err) = keys(new, None, &["add"]);
    assert!(!ok, "the new key alone cannot read the ring yet");
    assert!(err.contains("key-encryption key"), "{err}");

    // Every instance gets the new key and keeps the old one as previous: both open.
    let (ok, _, err) = keys(new, Some(old), &["add"]);
    assert!(ok, "{err}");
    let (ok, out, err) = keys(new, Some(old), &["reseal"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("1 key(s) resealed"), "{out}");
    let (ok, out, err) = keys(new, Some(old), &["reseal"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("0 key(s) resealed"), "nothing left: {out}");

    // The previous key can go; the old one alone no longer reads the ring.
    let (ok, _, err) = keys(new, None, &["add"]);
    assert!(ok, "every key opens with the new key alone: {err}");
    let (ok, _, _) = keys(old, None, &["add"]);
    assert!(!ok, "the old key no longer reads the ring");
    let (_, list, _) = keys(new, None, &["list"]);
    assert_eq!(list.lines().count(), 3, "{list}");
}

/// A command's result is its stdout, whatever it logs: `rules export > rules.yaml` must write
/// a file that `rules import` reads, even at the most verbose log level.
#[test]
fn command_results_go_to_stdout_and_logs_to_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = fedbroker(dir.path())
        .args(["rules", "export"])
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.trim().is_empty(),
        "debug logs are written, to stderr"
    );
    assert!(
        !stdout.contains("DEBUG") && !stdout.contains(" INFO "),
        "no log line in the result: {stdout}"
    );
    let exported = dir.path().join("rules.yaml");
    std::fs::write(&exported, out.stdout).expect("written");
    let check = fedbroker(dir.path())
        .args(["rules", "import"])
        .arg(&exported)
        .arg("--dry-run")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// A SQLite database restored without its key-encryption key file is refused, and no new key
/// file appears (its keys could never be decrypted with one).
#[test]
fn a_database_restored_without_its_key_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, _, err) = run_cli(dir.path(), &["keys", "add"]);
    assert!(ok, "{err}");
    let key_file = dir.path().join("saml-key-encryption.key");
    assert!(key_file.exists());
    std::fs::remove_file(&key_file).expect("removed");
    for args in [&["keys", "list"][..], &["serve"][..]] {
        let out = fedbroker(dir.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must refuse");
        assert!(
            stderr.contains("key-encryption key file") && stderr.contains("restore it"),
            "{args:?}: {stderr}"
        );
        assert!(!key_file.exists(), "{args:?}: no new key file");
    }
}
