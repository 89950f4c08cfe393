//! An upstream SAML identity provider on pysaml2 (`tests/peers/saml_idp.py`): genuinely
//! signed (and encrypted) Responses, produced on demand with the knobs a test needs.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::peers_dir;

/// The identity provider's entityID in these tests.
pub const IDP_ENTITY: &str = "https://idp.example.test/idp";

/// What one Response should look like.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub name_id: String,
    pub attributes: Vec<(String, String)>,
    pub in_response_to: Option<String>,
    /// Sign the assertion (the default).
    pub unsigned_assertion: bool,
    pub sign_response: bool,
    pub encrypt: bool,
    pub sha1: bool,
    /// Seconds the identity provider's clock is off.
    pub shift: i64,
    /// Addressed to another ACS URL.
    pub acs: Option<String>,
    /// For another service provider (its metadata file).
    pub sp_metadata: Option<PathBuf>,
    /// Signed with another key than the one in the metadata.
    pub foreign_key: bool,
}

/// A pysaml2 identity provider with its key, certificate and metadata in `dir`.
pub struct SamlIdp {
    pub dir: PathBuf,
    pub metadata: PathBuf,
    /// The broker's SP metadata for this provider, as fetched from the broker.
    pub sp_metadata: PathBuf,
    pub sp_entity: String,
    pub acs: String,
}

fn key_pair(dir: &Path, name: &str) {
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt")))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
}

fn python() -> Command {
    let mut c = Command::new(peers_dir().join(".venv/bin/python"));
    c.arg(peers_dir().join("saml_idp.py"));
    c
}

impl SamlIdp {
    /// Generates the provider's keys (its own and a foreign one) and writes its metadata.
    pub fn new(dir: &Path, sp_entity: &str) -> SamlIdp {
        key_pair(dir, "idp");
        key_pair(dir, "foreign");
        let metadata = dir.join("idp-metadata.xml");
        SamlIdp::write_metadata(dir, "idp", &metadata);
        SamlIdp {
            dir: dir.to_path_buf(),
            metadata,
            sp_metadata: dir.join("sp-metadata.xml"),
            sp_entity: sp_entity.to_string(),
            acs: format!("{sp_entity}/acs"),
        }
    }

    /// Writes metadata listing the certificate `key` (`idp` or another generated pair).
    pub fn write_metadata(dir: &Path, key: &str, to: &Path) {
        let out = python()
            .args(["metadata", "--entity", IDP_ENTITY, "--sso"])
            .arg(format!("{IDP_ENTITY}/sso"))
            .arg("--slo")
            .arg(format!("{IDP_ENTITY}/slo"))
            .arg("--cert")
            .arg(dir.join(format!("{key}.crt")))
            .output()
            .expect("saml_idp.py runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(to, out.stdout).expect("metadata written");
    }

    /// A base64 `SAMLResponse`.
    pub fn respond(&self, a: &Answer) -> String {
        let key = if a.foreign_key { "foreign" } else { "idp" };
        let mut c = python();
        c.args(["respond", "--entity", IDP_ENTITY])
            .arg("--key")
            .arg(self.dir.join(format!("{key}.key")))
            .arg("--cert")
            .arg(self.dir.join(format!("{key}.crt")))
            .arg("--sp-metadata")
            .arg(a.sp_metadata.as_ref().unwrap_or(&self.sp_metadata))
            .arg("--sp")
            .arg(&self.sp_entity)
            .arg("--acs")
            .arg(a.acs.as_ref().unwrap_or(&self.acs))
            .arg("--name-id")
            .arg(&a.name_id)
            .arg("--shift")
            .arg(a.shift.to_string());
        for (k, v) in &a.attributes {
            c.arg("--attr").arg(format!("{k}={v}"));
        }
        if let Some(irt) = &a.in_response_to {
            c.arg("--in-response-to").arg(irt);
        }
        for (on, flag) in [
            (a.unsigned_assertion, "--no-sign-assertion"),
            (a.sign_response, "--sign-response"),
            (a.encrypt, "--encrypt"),
            (a.sha1, "--sha1"),
        ] {
            if on {
                c.arg(flag);
            }
        }
        let out = c.output().expect("saml_idp.py runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("base64")
    }
}
