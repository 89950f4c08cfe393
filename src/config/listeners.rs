//! Where the broker listens and the URL people use: the checks of `[server]` and
//! `[metrics]`, each failure naming the setting and the fix.

use std::net::{IpAddr, SocketAddr};

use super::{ConfigError, Settings};

impl Settings {
    pub(super) fn check_listeners(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        let host: IpAddr = self.server.host.parse().map_err(|_| {
            invalid(
                "server.host",
                format!(
                    "`{}` is not an IP address; use e.g. 127.0.0.1, ::1 or 0.0.0.0",
                    self.server.host
                ),
            )
        })?;
        match (
            self.server.tls_cert.is_empty(),
            self.server.tls_key.is_empty(),
        ) {
            (false, true) => return Err(invalid(
                "server.tls_key",
                "server.tls_cert is set but server.tls_key is empty; set both PEM paths or neither"
                    .into(),
            )),
            (true, false) => return Err(invalid(
                "server.tls_cert",
                "server.tls_key is set but server.tls_cert is empty; set both PEM paths or neither"
                    .into(),
            )),
            _ => {}
        }
        if !self.tls_enabled() && !host.is_loopback() && !self.server.allow_insecure_http {
            return Err(invalid(
                "server.host",
                format!(
                    "{host} is not a loopback address and no TLS certificate is configured; \
                     set server.tls_cert and server.tls_key, or set server.allow_insecure_http = true \
                     if a TLS-terminating proxy sits in front"
                ),
            ));
        }
        if !self.server.public_url.is_empty() {
            let url = &self.server.public_url;
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.ends_with('/')
                && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty())
                && url::Url::parse(url)
                    .is_ok_and(|u| u.host().is_some() && u.path() == "/" && u.query().is_none());
            if !ok {
                return Err(invalid(
                    "server.public_url",
                    format!("`{url}` must look like https://broker.example.com (scheme and host, no path, no trailing slash): the broker's URLs (metadata, ACS) hang off it"),
                ));
            }
        }
        if self.server.public_url.is_empty() && !host.is_loopback() {
            return Err(invalid(
                "server.public_url",
                format!(
                    "is empty while server.host is {host}: people and AWS would be given \
                     http://{host}:{port}/… URLs; set server.public_url to the address people use, \
                     e.g. https://broker.example.com",
                    port = self.server.port
                ),
            ));
        }
        if !self.metrics.listen.is_empty() {
            let listen = &self.metrics.listen;
            let address: SocketAddr = listen.parse().map_err(|_| {
                invalid(
                    "metrics.listen",
                    format!(
                        "`{listen}` is not HOST:PORT with an IP address; use e.g. \
                         127.0.0.1:9464, or leave it empty to serve /metrics only with a token"
                    ),
                )
            })?;
            if !address.ip().is_loopback() && self.metrics.token.is_empty() {
                return Err(invalid(
                    "metrics.listen",
                    format!(
                        "`{listen}` is reachable from other machines and metrics.token is empty: \
                         anyone there could read which Regions are down and how many sign-ins \
                         fail; set metrics.token too, or listen on 127.0.0.1"
                    ),
                ));
            }
            if address.port() != 0
                && address.port() == self.server.port
                && (address.ip() == host || address.ip().is_unspecified() || host.is_unspecified())
            {
                return Err(invalid(
                    "metrics.listen",
                    format!(
                        "`{listen}` is the address of the main listener (server.host and \
                         server.port); give /metrics a port of its own"
                    ),
                ));
            }
        }
        let token = self.metrics.token.expose();
        if !token.is_empty() && token.chars().count() < 24 {
            return Err(invalid(
                "metrics.token",
                "is shorter than 24 characters; use a random one, e.g. `openssl rand -hex 24`"
                    .into(),
            ));
        }
        Ok(())
    }
}
