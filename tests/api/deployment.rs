//! The deployment files in `docs/` as an operator would use them: the systemd unit passes
//! `systemd-analyze verify` and rates as hardened, and the nginx example passes `nginx -t` and
//! then proxies a real sign-in page to a running broker, with `/metrics` kept inside.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, Backend};
use crate::peers::{free_port, wait_for_port};

fn docs() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/docs"))
}

/// The unit as written, with its binary path pointed at the binary under test (the check needs
/// the executable to exist).
fn unit_in(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(docs().join("fedbroker.service")).expect("unit");
    assert!(unit.contains("ExecStart=/usr/local/bin/fedbroker serve"));
    let unit = unit.replace("/usr/local/bin/fedbroker", env!("CARGO_BIN_EXE_fedbroker"));
    let path = dir.join("fedbroker.service");
    std::fs::write(&path, unit).expect("write");
    path
}

#[test]
fn the_systemd_unit_verifies_cleanly_and_is_hardened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_in(dir.path());
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // verify exits 0 on a setting it ignores; any complaint is a mistake in the unit.
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze complains: {stderr}"
    );

    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let exposure: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for fedbroker.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(
        exposure <= 2.0,
        "systemd rates the unit's exposure {exposure} (0 best, 10 worst):\n{report}"
    );
}

/// nginx in the foreground with the example site, its ports and paths made local: listens
/// `https_port`, forwards to `broker_port`.
pub(crate) struct Nginx {
    pub child: Child,
    pub _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the example site into a throwaway nginx prefix: a certificate for it, the listen
/// ports and the broker's port. Returns the folder and the main configuration file.
fn nginx_prefix(https_port: u16, http_port: u16, broker_port: u16) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert =
        rcgen::generate_simple_self_signed(vec!["broker.example.com".to_string()]).expect("cert");
    let ssl = dir.path().join("ssl");
    std::fs::create_dir(&ssl).expect("mkdir");
    std::fs::write(ssl.join("fullchain.pem"), cert.cert.pem()).expect("write");
    std::fs::write(ssl.join("privkey.pem"), cert.key_pair.serialize_pem()).expect("write");
    let site = std::fs::read_to_string(docs().join("nginx-fedbroker.conf")).expect("site");
    for expected in [
        "listen 443 ssl http2;",
        "listen 80;",
        "server 127.0.0.1:8080;",
    ] {
        assert!(site.contains(expected), "the example has `{expected}`");
    }
    let site = site
        .replace("/etc/ssl/broker.example.com", &ssl.display().to_string())
        .replace(
            "listen 443 ssl http2;",
            &format!("listen 127.0.0.1:{https_port} ssl http2;"),
        )
        .replace("listen [::]:443 ssl http2;", "")
        .replace("listen 80;", &format!("listen 127.0.0.1:{http_port};"))
        .replace("listen [::]:80;", "")
        .replace(
            "server 127.0.0.1:8080;",
            &format!("server 127.0.0.1:{broker_port};"),
        );
    std::fs::write(dir.path().join("site.conf"), site).expect("write");
    let prefix = dir.path().display().to_string();
    let main = dir.path().join("nginx.conf");
    std::fs::write(
        &main,
        format!(
            "daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\n\
             error_log {prefix}/error.log;\nevents {{}}\n\
             http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  \
             proxy_temp_path {prefix}/proxy;\n  include {prefix}/site.conf;\n}}\n"
        ),
    )
    .expect("write");
    (dir, main)
}

pub(crate) fn nginx(args: &[&str], dir: &Path, main: &Path) -> Command {
    let mut cmd = Command::new("/usr/sbin/nginx");
    cmd.args(args)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(main);
    cmd
}

#[tokio::test]
async fn the_nginx_example_passes_nginx_t_and_proxies_the_broker() {
    const SCRAPE_TOKEN: &str = "a-scrape-token-for-the-proxy-test";
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().expect("cidr")];
        // The broker would answer a scrape with this token: the 404 must come from nginx.
        s.metrics.token = fedbroker::domain::secret::Secret::new(SCRAPE_TOKEN.into());
    })
    .await;
    let broker_port: u16 = app
        .address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let (https_port, http_port) = (free_port(), free_port());
    let (dir, main) = nginx_prefix(https_port, http_port, broker_port);

    let out = nginx(&["-t"], dir.path(), &main)
        .output()
        .expect("nginx runs");
    assert!(
        out.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let child = nginx(&[], dir.path(), &main)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    let _nginx = Nginx { child, _dir: dir };
    wait_for_port(https_port, "nginx").await;

    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .resolve(
            "broker.example.com",
            std::net::SocketAddr::from(([127, 0, 0, 1], https_port)),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let base = format!("https://broker.example.com:{https_port}");
    let login = client
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::OK);
    assert!(login.text().await.expect("text").contains("csrf_token"));

    // A client cannot pick its address: the proxy replaces X-Forwarded-For, so a failed
    // sign-in is counted and recorded under the address nginx saw.
    let (cookie, token) = crate::process::login_form(&client, &base).await;
    let res = client
        .post(format!("{base}/login"))
        .header("cookie", cookie)
        .header("x-forwarded-for", "203.0.113.9")
        .form(&[
            ("username", "admin"),
            ("password", "not-the-password"),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let filter = fedbroker::store::AuditFilter {
        event_type: Some("signin".into()),
        ..Default::default()
    };
    let events = app.store.audit_events(&filter, 10).await.expect("events");
    let failed = events.first().expect("the failed sign-in is recorded");
    assert_eq!(failed.outcome, "failure");
    assert_eq!(failed.source_addr, "127.0.0.1", "{failed:?}");

    let res = client
        .get(format!("{base}/metrics"))
        .bearer_auth(SCRAPE_TOKEN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "/metrics stays inside");
    let body = res.text().await.expect("text");
    assert!(!body.contains("fedbroker_"), "{body}");
    let direct = reqwest::Client::new()
        .get(format!("{}/metrics", app.address))
        .bearer_auth(SCRAPE_TOKEN)
        .send()
        .await
        .expect("direct scrape");
    assert_eq!(
        direct.status(),
        StatusCode::OK,
        "the broker itself would have answered"
    );

    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let res = plain
        .get(format!("http://127.0.0.1:{http_port}/login"))
        .header("host", "broker.example.com")
        .send()
        .await
        .expect("http");
    assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        res.headers()["location"],
        "https://broker.example.com/login",
        "plain HTTP is sent to HTTPS"
    );
}
