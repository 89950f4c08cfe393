//! fedbroker as a SAML identity provider toward AWS sign-in and STS, and as a service provider
//! toward upstream identity providers ([`sp`]).

pub mod base64_field;
pub mod display;
pub mod encrypt;
pub mod kek;
pub mod keys;
pub mod metadata;
pub mod profile;
pub mod response;
pub mod rsa_keygen;
pub mod settings;
pub mod sign;
pub mod sp;
pub mod trust_policy;
pub mod upstream;
pub mod xml;
