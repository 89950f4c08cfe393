//! The hostile-input suite: every attack an outside review tried against the broker, each with
//! the refusal it must get. A reviewer reads this folder to see what is covered.
//!
//! - `limiter`: sign-in bursts, forged client addresses, lock-outs, OIDC start floods.
//! - `sources`: admin rights and identities from LDAP and OIDC, stale group snapshots.
//! - `sessions`: sessions and tokens after password changes, refusals, CSRF on every form.
//! - `saml`: what reaches AWS: session names, landing pages, deny rules, assertion lifetimes.

mod limiter;
mod saml;
mod sessions;
mod sources;
