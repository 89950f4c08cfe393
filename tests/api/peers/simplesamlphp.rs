//! SimpleSAMLphp 1.19 (Debian's, `/usr/share/simplesamlphp`) as a real upstream SAML 2.0 IdP,
//! served by `php -S` on loopback. Its configuration is `tests/peers/simplesamlphp/` copied
//! into a temp dir (`SIMPLESAMLPHP_CONFIG_DIR`), plus a fresh RSA key and certificate and one
//! `saml20-sp-remote.php` entry for the SP under test; nothing touches /etc/simplesamlphp.
//!
//! Users (`example-userpass`): alice/alice-pass, bob/bob-pass, mallory/mallory-pass. The login
//! form is `GET /module.php/core/loginuserpass.php?AuthState=…` (where SSOService.php
//! redirects); it posts back to the same URL (`action="?"`) with `username`, `password` and
//! the hidden `AuthState`, and answers with the auto-POST form to the SP's ACS.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{peers_dir, wait_for_port};

/// The one SP the IdP knows (`saml20-sp-remote.php`).
pub struct SpEntry {
    pub entity_id: String,
    /// AssertionConsumerService, HTTP-POST.
    pub acs_url: String,
    /// SingleLogoutService, HTTP-Redirect.
    pub slo_url: String,
    /// The SP's certificate (base64 DER): assertions are then encrypted to it. SimpleSAMLphp
    /// 1.19 always uses rsa-oaep-mgf1p + aes128-cbc for this (`sharedkey_algorithm` only
    /// applies to a pre-shared `sharedkey`).
    pub encrypt_to_cert_b64: Option<String>,
}

/// The SimpleSAMLphp IdP process, killed on drop.
pub struct SimpleSamlPhp {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT/`.
    pub base_url: String,
    /// Also its entityID.
    pub metadata_url: String,
}

impl Drop for SimpleSamlPhp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PHP single-quoted string literal.
fn php_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn sp_remote(sp: &SpEntry) -> String {
    let encryption = match &sp.encrypt_to_cert_b64 {
        Some(cert) => format!(
            "    'assertion.encryption' => true,\n    'certData' => {},\n",
            php_str(cert)
        ),
        None => String::new(),
    };
    format!(
        "<?php\n$metadata[{id}] = [\n    \
         'AssertionConsumerService' => [['Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', 'Location' => {acs}]],\n    \
         'SingleLogoutService' => [['Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', 'Location' => {slo}]],\n    \
         'validate.authnrequest' => false,\n{encryption}];\n",
        id = php_str(&sp.entity_id),
        acs = php_str(&sp.acs_url),
        slo = php_str(&sp.slo_url),
    )
}

/// An RSA-2048 key and a self-signed certificate for the IdP, as PEM.
fn idp_key_and_cert() -> (Vec<u8>, Vec<u8>) {
    use openssl::x509::{X509NameBuilder, X509};
    use openssl::{asn1::Asn1Time, bn::BigNum, hash::MessageDigest, pkey::PKey, rsa::Rsa};
    let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "simplesamlphp test IdP")
        .expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("x509");
    b.set_version(2).expect("version");
    b.set_serial_number(
        &BigNum::from_u32(1)
            .and_then(|n| n.to_asn1_integer())
            .expect("serial"),
    )
    .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("nbf");
    b.set_not_after(&Asn1Time::days_from_now(30).expect("time"))
        .expect("naf");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    (
        key.private_key_to_pem_pkcs8().expect("key pem"),
        b.build().to_pem().expect("cert pem"),
    )
}

/// Copies the template `from` to `to`, filling in `@PORT@` and `@SIGN_RESPONSE@`.
fn fill(from: &Path, to: &Path, port: u16, sign_response: bool) {
    let text = std::fs::read_to_string(from)
        .unwrap_or_else(|e| panic!("{}: {e}", from.display()))
        .replace("@PORT@", &port.to_string())
        .replace(
            "@SIGN_RESPONSE@",
            if sign_response { "true" } else { "false" },
        );
    std::fs::write(to, text).expect("write config");
}

impl SimpleSamlPhp {
    /// The IdP for `sp` on loopback `port` (chosen beforehand, so that the broker can be
    /// configured with the metadata URL first); `sign_response` also signs the Response
    /// around the signed assertion.
    pub async fn start_on(port: u16, sp: &SpEntry, sign_response: bool) -> SimpleSamlPhp {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for sub in ["metadata", "cert", "log", "tmp", "data", "sessions"] {
            std::fs::create_dir_all(d.join(sub)).expect("config dirs");
        }
        let templates = peers_dir().join("simplesamlphp");
        for file in [
            "config.php",
            "authsources.php",
            "metadata/saml20-idp-hosted.php",
        ] {
            fill(&templates.join(file), &d.join(file), port, sign_response);
        }
        std::fs::write(d.join("metadata/saml20-sp-remote.php"), sp_remote(sp)).expect("sp");
        let (key, cert) = idp_key_and_cert();
        std::fs::write(d.join("cert/idp.key"), key).expect("idp key");
        std::fs::write(d.join("cert/idp.crt"), cert).expect("idp cert");

        let out = std::fs::File::create(d.join("php-server.log")).expect("server log");
        let child = Command::new("php")
            .args([
                "-S",
                &format!("127.0.0.1:{port}"),
                "-t",
                "/usr/share/simplesamlphp/www",
            ])
            .env("SIMPLESAMLPHP_CONFIG_DIR", d)
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("server log"))
            .stderr(out)
            .spawn()
            .expect(
                "php runs SimpleSAMLphp (install php-cli, php-xml, simplesamlphp: `bash .ci/deps`)",
            );
        let base_url = format!("http://127.0.0.1:{port}/");
        let idp = SimpleSamlPhp {
            child,
            dir,
            metadata_url: format!("{base_url}saml2/idp/metadata.php"),
            base_url,
        };
        wait_for_port(port, "SimpleSAMLphp (php -S)").await;
        let answer = match reqwest::get(&idp.metadata_url).await {
            Ok(r) => (r.status(), r.text().await.unwrap_or_default()),
            Err(e) => panic!("SimpleSAMLphp metadata: {e}\n{}", idp.server_output()),
        };
        assert!(
            answer.0.is_success() && answer.1.contains("EntityDescriptor"),
            "SimpleSAMLphp metadata answered {}: {}\n--- log\n{}\n--- php -S\n{}",
            answer.0,
            answer.1.chars().take(2000).collect::<String>(),
            idp.log(),
            idp.server_output()
        );
        idp
    }

    /// Where an IdP-initiated sign-in for `sp_entity_id` starts (unsolicited Response).
    pub fn sso_url_idp_initiated(&self, sp_entity_id: &str) -> String {
        format!(
            "{}saml2/idp/SSOService.php?spentityid={}",
            self.base_url,
            url::form_urlencoded::byte_serialize(sp_entity_id.as_bytes()).collect::<String>()
        )
    }

    /// The SimpleSAMLphp log (INFO and up), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/simplesamlphp.log")).unwrap_or_default()
    }

    /// What `php -S` printed: requests and PHP warnings or fatal errors.
    pub fn server_output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("php-server.log")).unwrap_or_default()
    }
}
