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
