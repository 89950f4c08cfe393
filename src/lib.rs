//! fedbroker: a self-hosted identity broker for AWS.
//!
//! Dependencies point one way: `routes → {directory, sessions, store} → domain`.

pub mod audit;
pub mod auth;
pub mod aws;
pub mod cli;
pub mod clock;
pub mod config;
pub mod directory;
pub mod domain;
pub mod http;
pub mod mapping;
pub mod metrics;
pub mod rules;
pub mod saml;
pub mod startup;
pub mod store;
pub mod telemetry;
