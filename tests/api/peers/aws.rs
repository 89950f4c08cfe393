//! The AWS side: `moto_server` as STS, and a loopback stand-in (`tests/peers/aws_standin.py`)
//! for the behaviours no emulator here has (MaxSessionDuration refusals, the federation
//! endpoint), answering in AWS's exact wire formats.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_port, peers_dir, wait_for_port};

/// A peer process on a free loopback port, killed on drop.
pub struct Peer {
    child: Child,
    pub port: u16,
    pub record: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// `moto_server`, the STS emulator.
    pub async fn moto() -> Peer {
        Peer::spawn_moto(None).await
    }

    /// `moto_server` with its request recorder on: [`Peer::moto_received`] reads what it got.
    pub async fn moto_recording(dir: &Path) -> Peer {
        Peer::spawn_moto(Some(dir)).await
    }

    async fn spawn_moto(record_in: Option<&Path>) -> Peer {
        let port = free_port();
        let record = record_in
            .map(|dir| dir.join(format!("moto-{port}.jsonl")))
            .unwrap_or_default();
        let mut command = Command::new(peers_dir().join(".venv/bin/moto_server"));
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if record_in.is_some() {
            command
                .env("MOTO_ENABLE_RECORDING", "1")
                .env("MOTO_RECORDER_FILEPATH", &record);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts (install the test peers with `bash .ci/deps`)");
        wait_for_port(port, "moto_server").await;
        Peer {
            child,
            port,
            record,
        }
    }

    /// The AssumeRoleWithSAML requests moto recorded, each as its form parameters.
    pub fn moto_assume_calls(&self) -> Vec<std::collections::BTreeMap<String, String>> {
        self.moto_received()
            .into_iter()
            .map(|pairs| {
                pairs
                    .into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>()
            })
            .filter(|p| p.get("Action").map(String::as_str) == Some("AssumeRoleWithSAML"))
            .collect()
    }

    /// The form parameters of every request moto recorded (`MOTO_ENABLE_RECORDING`).
    pub fn moto_received(&self) -> Vec<Vec<(String, String)>> {
        use base64::Engine;
        crate::helpers::read_jsonl(&self.record)
            .iter()
            .map(|entry| {
                let body = entry["body"].as_str().unwrap_or("");
                let bytes = if entry["body_encoded"] == true {
                    base64::engine::general_purpose::STANDARD
                        .decode(body)
                        .expect("moto records base64")
                } else {
                    body.as_bytes().to_vec()
                };
                url::form_urlencoded::parse(&bytes).into_owned().collect()
            })
            .collect()
    }

    /// The stand-in for STS's MaxSessionDuration refusal and the federation endpoint.
    pub async fn standin(dir: &Path, max_duration: u32) -> Peer {
        Peer::standin_with(dir, max_duration, "").await
    }

    /// The stand-in, refusing every session policy with the STS error `refuse_policy` (none
    /// when empty).
    pub async fn standin_with(dir: &Path, max_duration: u32, refuse_policy: &str) -> Peer {
        let port = free_port();
        let record = dir.join(format!("standin-{port}.jsonl"));
        let child = Command::new(peers_dir().join(".venv/bin/python"))
            .arg(peers_dir().join("aws_standin.py"))
            .args(["--port", &port.to_string(), "--max-duration"])
            .arg(max_duration.to_string())
            .arg("--refuse-policy")
            .arg(refuse_policy)
            .arg("--record")
            .arg(&record)
            .stdout(Stdio::null())
            .spawn()
            .expect("stand-in starts");
        wait_for_port(port, "the AWS stand-in (tests/peers/aws_standin.py)").await;
        Peer {
            child,
            port,
            record,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the stand-in received, one JSON object per request.
    pub fn received(&self) -> Vec<serde_json::Value> {
        crate::helpers::read_jsonl(&self.record)
    }
}
