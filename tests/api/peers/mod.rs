//! Every real peer the suite runs, started in one place: slapd (`slapd`), the npm
//! `oidc-provider` (`oidc_op`), moto and the AWS stand-in (`aws`), pysaml2 as a regional
//! sign-in endpoint (`sign_in_endpoint`). Each takes a free loopback port, waits for it without
//! blocking the test's runtime, names itself when it does not come up, and is killed on drop.

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub mod aws;
pub mod oidc_op;
pub mod postgres;
pub mod saml_idp;
pub mod sign_in_endpoint;
pub mod simplesamlphp;
pub mod slapd;

/// The folder of the peers' scripts and their installed packages.
pub fn peers_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers"))
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits until `port` accepts connections, for at most 30 s; `peer` names it in the failure.
pub async fn wait_for_port(port: u16, peer: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "{peer} did not start listening on 127.0.0.1:{port} within 30 s \
             (are the peers installed? `bash .ci/deps`)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback "sign-in endpoint" that answers every request with 200, so Region probes pass.
pub fn answering_endpoint() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    format!("http://127.0.0.1:{port}/saml")
}
