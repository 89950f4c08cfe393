//! fedbroker as a SAML identity provider toward AWS sign-in and STS.

pub mod keys;
pub mod metadata;
pub mod profile;
pub mod response;
pub mod settings;
pub mod sign;
pub mod trust_policy;
pub mod xml;
