//! HTTPS through rustls, with HSTS.

use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, Backend};

#[tokio::test]
async fn https_is_served_with_hsts_when_a_certificate_is_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).expect("write key");

    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.server.tls_cert = cert_path.display().to_string();
        s.server.tls_key = key_path.display().to_string();
    })
    .await;
    assert!(app.address.starts_with("https://"));
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).expect("pem"),
        )
        .build()
        .expect("client");
    let res = client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("https works");
    assert_eq!(res.status(), StatusCode::OK);
    let hsts = res.headers()["strict-transport-security"]
        .to_str()
        .expect("hsts");
    assert!(hsts.contains("max-age=31536000"), "{hsts}");

    // Plain HTTP to the TLS port gets no page.
    let plain = app.address.replace("https://", "http://");
    let res = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .send()
        .await;
    assert!(res.map(|r| r.status() != StatusCode::OK).unwrap_or(true));
}

#[tokio::test]
async fn a_missing_certificate_file_stops_start_up_with_the_setting_named() {
    let (url, _dir) = crate::helpers::fresh_database(Backend::Sqlite).await;
    let mut settings = crate::helpers::test_settings(&url);
    settings.server.tls_cert = "/nonexistent/cert.pem".into();
    settings.server.tls_key = "/nonexistent/key.pem".into();
    let err = fedbroker::startup::Application::build(settings, Default::default())
        .await
        .err()
        .expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("server.tls_cert"), "{msg}");
}

/// A self-signed certificate for localhost with the given serial: (certificate PEM, key PEM).
fn certificate_with_serial(serial: u64) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.serial_number = Some(rcgen::SerialNumber::from(serial));
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem())
}

/// Writes a file the way a renewal tool does: a new file renamed over the old one.
fn replace(path: &std::path::Path, content: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, content).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// The serial of the certificate a response came over, as a decimal string.
fn served_serial(res: &reqwest::Response) -> String {
    let der = res
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the peer certificate");
    let cert = openssl::x509::X509::from_der(der).expect("DER");
    let serial = cert.serial_number().to_bn().expect("bn");
    serial.to_dec_str().expect("decimal").to_string()
}

fn client() -> reqwest::Client {
    // The certificates are self-signed; what is checked here is which one is served.
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .build()
        .expect("client")
}

#[test]
fn sighup_serves_a_renewed_certificate_to_new_connections_without_dropping_open_ones() {
    use crate::process::{fedbroker, start_serving, terminate, wait_for, Serving};

    let dir = tempfile::tempdir().expect("tempdir");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    let (cert, key) = certificate_with_serial(1001);
    replace(&cert_path, &cert);
    replace(&key_path, &key);
    let Serving {
        mut child,
        rx,
        mut seen,
        url,
    } = start_serving(
        fedbroker(dir.path())
            .arg("serve")
            .env("FEDBROKER__SERVER__WORKERS", "1")
            .env("FEDBROKER__SERVER__TLS_CERT", &cert_path)
            .env("FEDBROKER__SERVER__TLS_KEY", &key_path)
            .env(
                "FEDBROKER_BOOTSTRAP_ADMIN_PASSWORD",
                "a-long-bootstrap-password",
            ),
    );
    assert!(url.starts_with("https://"), "{url}");
    let hup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success());
    };

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let open = client();
        let res = open
            .get(format!("{url}/healthz"))
            .send()
            .await
            .expect("https");
        assert_eq!(served_serial(&res), "1001");

        // Renewed: new handshakes get the new certificate, the open connection goes on.
        let (cert, key) = certificate_with_serial(2002);
        replace(&cert_path, &cert);
        replace(&key_path, &key);
        hup(child.id());
        wait_for(&rx, &mut seen, "TLS certificate reloaded");
        let res = client()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .expect("https");
        assert_eq!(
            served_serial(&res),
            "2002",
            "a new connection gets the renewal"
        );
        let res = open
            .get(format!("{url}/healthz"))
            .send()
            .await
            .expect("still open");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            served_serial(&res),
            "1001",
            "the connection made before the reload was kept, not dropped"
        );

        // A broken renewal is refused and the certificate in use stays.
        replace(&key_path, "not a key");
        hup(child.id());
        let refused = wait_for(&rx, &mut seen, "TLS certificate not reloaded");
        assert!(refused.contains("server.tls_key"), "{refused}");
        let res = client()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .expect("https");
        assert_eq!(served_serial(&res), "2002");
    });
    terminate(&child);
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
}
