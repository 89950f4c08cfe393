//! Hostile inputs: saml.
