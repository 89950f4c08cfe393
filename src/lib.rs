//! fedbroker: a self-hosted identity broker for AWS.
//!
//! Dependencies point one way: `routes → {directory, sessions, store} → domain`.

pub mod access;
pub mod api_tokens;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod directory;
pub mod domain;
pub mod error;
pub mod mapping;
pub mod metrics;
pub mod middleware;
pub mod ratelimit;
pub mod regions;
pub mod roles;
pub mod routes;
pub mod saml;
pub mod sessions;
pub mod signin;
pub mod startup;
pub mod store;
pub mod sts;
pub mod telemetry;
pub mod token_recheck;
