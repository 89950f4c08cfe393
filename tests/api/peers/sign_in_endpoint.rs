//! A regional AWS sign-in endpoint stand-in: pysaml2 (`tests/peers/saml_sp.py serve`) checks
//! every posted Response as AWS would and records what it accepted.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_port, peers_dir};

/// A pysaml2 "regional AWS sign-in endpoint" on loopback that records what it receives.
pub struct SignInEndpoint {
    child: Child,
    pub url: String,
    pub record: PathBuf,
}

impl SignInEndpoint {
    pub fn start(dir: &Path, name: &str, metadata: &Path) -> SignInEndpoint {
        SignInEndpoint::start_for(dir, name, metadata, "urn:amazon:webservices")
    }

    /// An endpoint of a partition whose sign-in has its own audience (`entity_id`), e.g.
    /// `urn:amazon:webservices:govcloud`.
    pub fn start_for(dir: &Path, name: &str, metadata: &Path, entity_id: &str) -> SignInEndpoint {
        SignInEndpoint::spawn(dir, name, metadata, entity_id, None)
    }

    /// The endpoint of an IAM SAML provider that takes encrypted assertions: it holds the
    /// private key of `key_pair` (PEM key file, PEM certificate file), accepts only encrypted
    /// Responses at `<url>/acs/<idp_id>`, and publishes the certificate at
    /// `/static/saml/<idp_id>/saml-metadata.xml` as AWS does.
    pub fn start_encrypting(
        dir: &Path,
        name: &str,
        metadata: &Path,
        idp_id: &str,
        key_pair: (&Path, &Path),
    ) -> SignInEndpoint {
        SignInEndpoint::spawn(
            dir,
            name,
            metadata,
            "urn:amazon:webservices",
            Some((idp_id, key_pair)),
        )
    }

    fn spawn(
        dir: &Path,
        name: &str,
        metadata: &Path,
        entity_id: &str,
        encrypting: Option<(&str, (&Path, &Path))>,
    ) -> SignInEndpoint {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/saml");
        let acs = match encrypting {
            Some((idp_id, _)) => format!("{url}/acs/{idp_id}"),
            None => url.clone(),
        };
        let record = dir.join(format!("{name}.jsonl"));
        let mut command = Command::new(peers_dir().join(".venv/bin/python"));
        command
            .arg(peers_dir().join("saml_sp.py"))
            .args([
                "serve",
                "--port",
                &port.to_string(),
                "--acs",
                &acs,
                "--entity-id",
                entity_id,
                "--metadata",
            ])
            .arg(metadata)
            .arg("--record")
            .arg(&record);
        if let Some((idp_id, (key, cert))) = encrypting {
            command
                .args(["--idp-id", idp_id, "--decrypt-key"])
                .arg(key)
                .arg("--decrypt-cert")
                .arg(cert);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("pysaml2 endpoint starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        assert!(line.contains("listening"), "{line}");
        SignInEndpoint { child, url, record }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the endpoint recorded, one JSON object per POST.
    pub fn received(&self) -> Vec<serde_json::Value> {
        crate::helpers::read_jsonl(&self.record)
    }
}

impl Drop for SignInEndpoint {
    fn drop(&mut self) {
        self.stop();
    }
}
