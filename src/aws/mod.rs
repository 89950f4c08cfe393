//! Everything the broker sends to AWS: signed sign-in Responses for the console
//! (`assertion`), the regional sign-in endpoints (`regions`), STS `AssumeRoleWithSAML`
//! (`sts`), the one failover policy both follow (`failover`), CLI credentials
//! (`credentials`), console links through the federation endpoint (`federation`), and the
//! choice between a SAML sign-in and a federation link for the Console button (`console`).

pub mod assertion;
pub mod console;
pub mod credentials;
pub mod encryption;
pub mod failover;
pub mod federation;
pub mod regions;
pub mod sts;

use crate::aws::federation::Federation;
use crate::aws::regions::RegionRouter;
use crate::aws::sts::StsClient;
use crate::rules::RoleMapper;
use crate::saml::keys::KeyRing;
use crate::saml::profile::AwsProfile;
use crate::store::Store;

/// What the AWS-facing use cases need, borrowed from whoever holds it (the HTTP state, the
/// command line, a test). It names no HTTP type, so every use case runs without a server.
#[derive(Clone, Copy)]
pub struct AwsContext<'a> {
    pub store: &'a Store,
    pub keys: &'a KeyRing,
    pub profile: &'a AwsProfile,
    pub rules: &'a RoleMapper,
    pub regions: &'a RegionRouter,
    pub sts: &'a StsClient,
    pub federation: &'a Federation,
}

/// This instance's name where instances share state (the endpoint health, its probe lease):
/// `host:pid:nonce`, the nonce telling apart two brokers in one process (tests) or a restart
/// that got the same pid.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let nonce: u16 = rand::random();
    format!("{host}:{}:{nonce:04x}", std::process::id())
}
