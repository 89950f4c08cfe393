//! Rate limiting of failed sign-ins, per username and per client address.
//!
//! Counters are kept in the database so that every broker instance sharing it enforces the same
//! limit. Usernames are counted whether or not they exist (so the limit reveals nothing), and the
//! key stored is a hash: people type passwords into the username field, and those must not land
//! in a table in clear.

use crate::config::LoginSettings;
use crate::sessions::token_hash;
use crate::store::{Store, StoreError};

/// Counts failures and says when to refuse.
#[derive(Clone, Debug)]
pub struct LoginLimiter {
    store: Store,
    settings: LoginSettings,
}

/// The limiter's verdict for one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; the attempt may be retried after this many seconds.
    Limited {
        retry_after_secs: i64,
    },
}

impl LoginLimiter {
    /// A limiter with the configured thresholds.
    pub fn new(store: Store, settings: LoginSettings) -> Self {
        Self { store, settings }
    }

    fn user_key(username: &str) -> String {
        format!("user:{}", token_hash(&username.trim().to_lowercase()))
    }

    fn addr_key(addr: &str) -> String {
        format!("addr:{addr}")
    }

    /// Whether another attempt for this username from this address may be made at `now`.
    pub async fn check(&self, username: &str, addr: &str, now: i64) -> Result<Verdict, StoreError> {
        let window = self.settings.failure_window_secs;
        let since = now - window;
        let mut retry_after = 0;
        for (key, limit) in [
            (
                Self::user_key(username),
                self.settings.max_failures_per_user,
            ),
            (Self::addr_key(addr), self.settings.max_failures_per_address),
        ] {
            let (count, oldest) = self.store.login_failures_since(&key, since).await?;
            if count >= limit {
                let wait = oldest.map_or(window, |t| t + window - now).max(1);
                retry_after = retry_after.max(wait);
            }
        }
        Ok(if retry_after > 0 {
            Verdict::Limited {
                retry_after_secs: retry_after,
            }
        } else {
            Verdict::Allowed
        })
    }

    /// Counts a failed attempt against both the username and the address.
    pub async fn record_failure(
        &self,
        username: &str,
        addr: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let user = Self::user_key(username);
        let addr = Self::addr_key(addr);
        self.store.record_login_failure(&[&user, &addr], now).await
    }

    /// A successful sign-in clears the username's counter (not the address's: one good
    /// password must not reset a spray from that address across other accounts).
    pub async fn record_success(&self, username: &str) -> Result<(), StoreError> {
        self.store
            .clear_login_failures(&Self::user_key(username))
            .await
    }
}
