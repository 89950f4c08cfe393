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

#[tokio::test]
async fn an_admin_creates_and_dry_runs_a_rule_and_alice_sees_the_role_under_its_alias() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    // The bootstrap password is replaced first (the browser then signs in with the new one).
    app.login_as_admin().await;
    app.create_user("alice", "alice-password-1", &["pay-ops", "staff"])
        .await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let artifacts = root.join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let prefix = artifacts.join("mapping");
    for suffix in ["rules", "dry-run", "portal", "search"] {
        let _ = std::fs::remove_file(artifacts.join(format!("mapping-{suffix}.png")));
    }
    let address = app.address.clone();
    let prefix_arg = prefix.to_string_lossy().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(root.join("tests/browser/rules.mjs"))
            .args([
                &address,
                "a-new-admin-password",
                "alice-password-1",
                &prefix_arg,
            ])
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
    assert!(!stdout.contains("browser error"), "{stdout}");
    assert!(
        stdout.contains("rules=AD FS convention|Payments deployers"),
        "{stdout}"
    );
    assert!(stdout.contains("alias-row=yes"), "{stdout}");
    assert!(
        stdout.contains("dry-run=arn:aws:iam::123456789012:role/ops-Deployer ; arn:aws:iam::123456789012:saml-provider/fedbroker ; 7200 s ;  ; Payments deployers ; pay-ops"),
        "{stdout}"
    );
    assert!(
        stdout.contains("account-heading=Payments prod 123456789012"),
        "{stdout}"
    );
    assert!(stdout.contains("portal-roles=ops-Deployer"), "{stdout}");
    assert!(stdout.contains("no-match-visible=true"), "{stdout}");
    assert!(stdout.contains("match-visible=true"), "{stdout}");
    assert!(stdout.contains("no-match-after=false"), "{stdout}");
    for suffix in ["rules", "dry-run", "portal", "search"] {
        let shot = artifacts.join(format!("mapping-{suffix}.png"));
        let size = std::fs::metadata(&shot)
            .unwrap_or_else(|_| panic!("{suffix} screenshot saved"))
            .len();
        assert!(size > 5_000, "{suffix} screenshot looks empty");
    }
}
