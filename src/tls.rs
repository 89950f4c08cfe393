//! The server's TLS certificate: read at start-up, and read again on SIGHUP.
//!
//! Certificates are renewed every few weeks (ACME, an internal CA). Restarting for each renewal
//! would end every sign-in in flight, so the certificate lives behind a resolver that rustls asks
//! at every handshake: a reload swaps what new handshakes get, while connections already open keep
//! the certificate they were made with. A renewal that cannot be read (a half-written file, a key
//! that does not match) is logged and the certificate in use stays, so a bad deploy never takes
//! HTTPS down.

use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The certificate new handshakes get, replaceable while the server runs.
#[derive(Debug)]
pub struct ReloadableCert {
    cert_path: String,
    key_path: String,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    /// Reads the certificate chain and key; errors name the setting and the file.
    pub fn load(cert_path: &str, key_path: &str) -> anyhow::Result<Arc<ReloadableCert>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = read_pair(cert_path, key_path, &provider)?;
        Ok(Arc::new(ReloadableCert {
            cert_path: cert_path.to_string(),
            key_path: key_path.to_string(),
            provider,
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// Reads the files again and, if they form a usable pair, serves them from the next handshake.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = read_pair(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// A rustls configuration whose certificate comes from this resolver.
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<rustls::ServerConfig> {
        Ok(
            rustls::ServerConfig::builder_with_provider(self.provider.clone())
                .with_safe_default_protocol_versions()
                .context("TLS protocol setup failed")?
                .with_no_client_auth()
                .with_cert_resolver(self.clone()),
        )
    }
}

/// Listens for SIGHUP for the life of the process: reloads the certificate when there is one,
/// and otherwise only says so, because SIGHUP's default action would end the process
/// (`systemctl reload` sends it).
pub fn reload_on_sighup(cert: Option<Arc<ReloadableCert>>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(cert) = &cert else {
                tracing::info!("SIGHUP: no TLS certificate to reload (server.tls_cert is not set)");
                continue;
            };
            match cert.reload() {
                Ok(()) => tracing::info!(
                    cert = %cert.cert_path,
                    "SIGHUP: TLS certificate reloaded; new connections get it"
                ),
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    "SIGHUP: TLS certificate not reloaded; the one in use stays"
                ),
            }
        }
    });
    Ok(())
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// The PEM chain and key as one certified key, checked to belong together.
fn read_pair(
    cert_path: &str,
    key_path: &str,
    provider: &CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let cert_pem = std::fs::read(cert_path)
        .with_context(|| format!("cannot read server.tls_cert = {cert_path}"))?;
    let key_pem = std::fs::read(key_path)
        .with_context(|| format!("cannot read server.tls_key = {key_path}"))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("server.tls_cert = {cert_path} is not a PEM certificate chain"))?;
    if certs.is_empty() {
        anyhow::bail!("server.tls_cert = {cert_path} holds no certificate");
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("server.tls_key = {key_path} is not a PEM private key"))?
        .with_context(|| format!("server.tls_key = {key_path} holds no private key"))?;
    CertifiedKey::from_der(certs, key, provider)
        .context("server.tls_cert and server.tls_key do not form a usable pair")
}
