//! Integration tests: the real server on a random port, against a fresh database of each engine.

mod helpers;

mod account;
mod admin;
mod api_v1;
mod audit;
mod aws_guide;
mod bookmarks;
mod browser;
mod cli_client;
mod cli_sign_in;
pub(crate) mod deployment;
mod encrypted_assertions;
mod health;
mod hostile;
mod instances;
mod layers;
mod ldap;
mod login;
mod mapping;
mod oidc;
mod partitions;
mod peers;
pub(crate) mod process;
mod saml;
mod saml_flow;
mod services;
mod session_controls;
mod sessions;
mod snapshots;
mod store;
mod sts;
mod tls;
mod upstream_saml;
mod user_admin;
