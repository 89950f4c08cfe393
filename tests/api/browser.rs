//! Headless Chromium (Debian's) signs in through the real login page and lands on the portal.
//! Driven by playwright-core from `tests/peers` (no browser download: it uses /usr/bin/chromium).
//! The screenshot is kept in `target/test-artifacts/`.

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::{spawn_app_with, Backend};

#[tokio::test]
async fn a_browser_signs_in_and_sees_the_portal() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.demo.enabled = true).await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let artifacts = root.join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let shot = artifacts.join("sign-in-portal.png");
    let _ = std::fs::remove_file(&shot);
    let address = app.address.clone();
    let script = root.join("tests/browser/sign_in.mjs");
    let shot_arg = shot.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(address)
            .arg(shot_arg)
            .env("NODE_PATH", root.join("tests/peers/node_modules"))
            .output()
            .expect("node runs (install the test peers with `bash .ci/deps`)")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser run failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("portal-user=alice"), "{stdout}");
    assert!(stdout.contains("AWS-123456789012-Admin"), "{stdout}");
    let size = std::fs::metadata(&shot).expect("screenshot saved").len();
    assert!(size > 5_000, "screenshot looks empty ({size} bytes)");
}

#[tokio::test]
async fn a_browser_presses_console_and_the_auto_post_reaches_the_sign_in_endpoint() {
    use crate::saml_flow::SignInEndpoint;
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("md.xml");
    let endpoint = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let acs = vec![format!("us-east-2={}", endpoint.url)];
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.demo.enabled = true;
        s.regions.acs = acs;
    })
    .await;
    std::fs::write(&metadata, app.get("/saml/metadata").await.body).expect("metadata");
    app.regions.probe_all(fedbroker::startup::now()).await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let artifacts = root.join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let shot = artifacts.join("console-autopost.png");
    let _ = std::fs::remove_file(&shot);
    let (address, url, shot_arg) = (app.address.clone(), endpoint.url.clone(), shot.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(root.join("tests/browser/console.mjs"))
            .args([&address, &url])
            .arg(shot_arg)
            .output()
            .expect("node runs")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("result=accepted"), "{stdout}");
    let got = endpoint.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["ok"], true, "{}", got[0]);
    assert!(got[0]["relay_state"]
        .as_str()
        .unwrap_or("")
        .starts_with("https://us-east-2.console.aws.amazon.com/"));
    assert!(std::fs::metadata(&shot).expect("screenshot").len() > 5_000);
}
