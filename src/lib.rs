//! fedbroker: a self-hosted identity broker for AWS.
//!
//! Dependencies point one way: entry (`cli`, `startup`, `config`) → `http` → services (`aws`,
//! `auth`, `rules`, `audit`) → `directory` and `saml` → `store` → pure (`domain`, `mapping`,
//! `clock`); `tests/api/layers.rs` keeps it so. The README's "How the code is laid out" has a
//! line per folder.

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
pub mod tls;
