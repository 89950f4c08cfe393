//! fedbroker as a SAML service provider toward upstream identity providers (AD FS, Okta,
//! Entra ID, Shibboleth, SimpleSAMLphp): their metadata, the requests sent to them, and the
//! verification of what they answer.
//!
//! The verifier is this crate's own, over one strict tree ([`tree`]), rather than libxmlsec
//! through samael: the node whose signature is checked must be the node that is read, which a
//! verify-then-reparse design cannot promise, and samael's service provider skips the check
//! entirely when the metadata lists no signing key and accepts RSA PKCS#1 v1.5 key transport.

pub mod c14n;
pub mod decrypt;
pub mod dsig;
pub mod idp_metadata;
pub mod request;
pub mod sp_metadata;
pub mod tree;
pub mod verify;
