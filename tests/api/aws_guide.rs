//! `docs/aws-setup.md` runs as written: every `sh` block of the guide, in order, in one shell
//! state (each block sees the files the previous ones wrote), with the real AWS CLI pointed at
//! moto's IAM and STS and the real `fedbroker` binary on the PATH, against a running broker
//! whose STS endpoint is that moto. A change that breaks the guide breaks the build.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;

use crate::helpers::Backend;
use crate::peers::aws::Peer;
use crate::sts::app_with_sts;

/// The `sh` blocks of a Markdown file, in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[tokio::test]
async fn the_aws_setup_guide_runs_as_written() {
    let moto = Peer::moto().await;
    let app = app_with_sts(Backend::Sqlite, vec![format!("us-east-2={}", moto.url())]).await;
    let form = app.get("/account/tokens").await.csrf_token();
    let created = app
        .post_form(
            "/account/tokens",
            &[
                ("csrf_token", form.as_str()),
                ("name", "guide"),
                ("days", "1"),
                ("scope", "credentials"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let token = created
        .body
        .split("id=\"token-secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the new token")
        .to_string();

    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/aws-setup.md"))
            .expect("the guide");
    let blocks = sh_blocks(&guide);
    assert!(blocks.len() >= 4, "the guide's steps are sh blocks");
    let work = tempfile::tempdir().expect("tempdir");
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fedbroker"), bin.join("fedbroker"))
        .expect("fedbroker on the PATH");
    // The AWS CLI: the machine's, else the one `.ci/deps` put into the test peers' venv.
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default(),
        crate::peers::peers_dir().join(".venv/bin").display()
    );
    let metadata_before = app.get("/saml/metadata").await.body;
    for (i, block) in blocks.iter().enumerate() {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", block])
            .current_dir(work.path())
            .env("PATH", &path)
            .env("FEDBROKER_URL", &app.address)
            .env("FEDBROKER_TOKEN", &token)
            .env("FEDBROKER_CONFIG_DIR", crate::helpers::config_dir())
            .env("FEDBROKER__DATABASE__URL", &app.settings.database.url)
            .env(
                "FEDBROKER__SAML__KEY_ENCRYPTION_KEY",
                app.settings.saml.key_encryption_key.expose(),
            )
            .env("AWS_ENDPOINT_URL", moto.url())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("RUST_LOG")
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "guide block {} failed:\n{block}\n--- stdout\n{}\n--- stderr\n{}",
            i + 1,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // What the guide did is there: the provider, the role with the generated trust policy,
    // credentials through the broker, and a rotated key the broker now signs with.
    let credentials: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("admin-credentials.json")).expect("written"),
    )
    .expect("JSON");
    assert_eq!(credentials["Version"], 1);
    let trust: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("admin-trust.json")).expect("written"),
    )
    .expect("pure JSON");
    assert_eq!(
        trust["Statement"][0]["Principal"]["Federated"],
        "arn:aws:iam::123456789012:saml-provider/fedbroker"
    );
    let keys = app.store.list_keys().await.expect("keys");
    assert_eq!(keys.len(), 2, "the rotation added a key");
    assert_eq!(
        keys.iter().filter(|k| k.state == "active").count(),
        1,
        "one key signs"
    );
    assert_ne!(app.get("/saml/metadata").await.body, metadata_before);
}
