//! Pure domain types: no actix, no sqlx. Values are parsed once at the edge and valid after that.

pub mod account;
pub mod aws;
pub mod client_addr;
pub mod secret;
pub mod session;
pub mod token;
