//! The state every worker shares, and what a request says about where it came from.

use std::sync::Arc;

use actix_web::HttpRequest;

use crate::auth::limiter::LoginLimiter;
use crate::auth::sessions::SessionService;
use crate::aws::regions::RegionRouter;
use crate::aws::AwsContext;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::rules::RoleMapper;
use crate::saml::keys::KeyRing;
use crate::saml::profile::AwsProfile;
use crate::store::Store;

/// Session cookie name. `__Host-` makes browsers insist on Secure, Path=/ and no Domain, so no
/// other host (not even a subdomain) can set or overwrite it.
pub const SESSION_COOKIE: &str = "__Host-fedbroker-session";
/// Cookie holding the login form's CSRF token before a session exists.
pub const LOGIN_CSRF_COOKIE: &str = "__Host-fedbroker-login-csrf";

/// Shared state of every worker.
pub struct AppState {
    pub settings: Settings,
    pub store: Store,
    pub sessions: SessionService,
    pub limiter: LoginLimiter,
    pub metrics: Metrics,
    pub keys: KeyRing,
    pub regions: Arc<RegionRouter>,
    pub profile: AwsProfile,
    /// The mapping rules, compiled and cached per rule-set generation.
    pub rules: RoleMapper,
    /// LDAP and other identity sources beside the local directory.
    pub sources: crate::directory::Sources,
    /// Upstream SAML identity providers (`[[sources.saml]]`).
    pub upstream_saml: Vec<crate::saml::upstream::UpstreamIdp>,
    /// Regional STS endpoints with failover.
    pub sts: crate::aws::sts::StsClient,
    /// The federation endpoints for console links.
    pub federation: crate::aws::federation::Federation,
    /// The URL people use to reach this instance.
    pub url: String,
    /// Set on SIGTERM: `/readyz` then says "draining" until the listener closes.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// The parts the AWS-facing use cases need.
    pub fn aws(&self) -> AwsContext<'_> {
        AwsContext {
            store: &self.store,
            keys: &self.keys,
            profile: &self.profile,
            rules: &self.rules,
            regions: &self.regions,
            sts: &self.sts,
            federation: &self.federation,
        }
    }
}

/// The client's address, for rate limiting and logs: the peer's, or what a trusted proxy says
/// it saw (`server.trusted_proxies`; see `domain::client_addr`).
pub fn client_addr(req: &HttpRequest, settings: &Settings) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        // A value that is not text counts as garbage, which makes the peer address win.
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    crate::domain::client_addr::client_ip(peer, &forwarded, &settings.server.trusted_proxies)
        .map_or_else(|| "unknown".into(), |ip| ip.to_string())
}
