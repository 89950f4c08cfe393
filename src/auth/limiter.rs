//! Sign-in limits: how many password checks a client may cause, and when it must wait.
//!
//! An attempt is **reserved before the password is checked**, in one database step per keys
//! (see `store::limits`), so a concurrent burst cannot slip past the count: at most the budget
//! of password checks ever runs, on one instance or on several sharing the database. The
//! reservation counts as a failure unless the caller says otherwise, so an attempt that is
//! abandoned half-way still counts (fail closed).
//!
//! ```text
//!                 reserve ──refused──▶ 429 + Retry-After (no password check)
//!                    │ granted
//!                    ▼
//!             check the password
//!        ┌───────────┼──────────────────┐
//!   right password   wrong / disabled   not a real attempt (empty password,
//!   succeeded():     (nothing to do:    directory down, broker busy):
//!   attempt and      the reservation    not_counted(): reservation released
//!   (user, address)  stays a failure)
//!   and user counts
//!   cleared
//! ```
//!
//! Keys, counted over `login.failure_window_secs`:
//! - **(username, address)**: `max_failures_per_user` failures, then that client is refused for
//!   that username until the window has passed. Another address that has never failed for the
//!   username is not affected, so nobody can lock the break-glass admin out by failing on
//!   purpose from elsewhere.
//! - **address**: `max_failures_per_address` failures over all usernames (password spraying).
//! - **username, from anywhere**: once it has `max_failures_per_user` failures in the window, a
//!   client that has itself failed for the username may try only once per `user_backoff_secs`
//!   (a distributed guesser slows to that rate); a client with no failure is never delayed.
//!
//! Usernames are counted whether or not they exist (so the limit reveals nothing), and only as
//! a hash: people type passwords into the username field. This follows NIST SP 800-63B 5.2.2
//! (limit failed attempts, never a permanent lock-out).

use crate::auth::sessions::{random_token, token_hash};
use crate::store::{KeyStats, Store, StoreError};

/// `[login]`
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    pub max_failures_per_user: i64,
    pub max_failures_per_address: i64,
    pub failure_window_secs: i64,
    /// Seconds between attempts of a client that failed, while its username is under attack.
    pub user_backoff_secs: i64,
    /// OIDC sign-ins one address may start within `failure_window_secs`.
    pub max_oidc_starts_per_address: i64,
}

/// Counts attempts and says when to refuse.
#[derive(Clone, Debug)]
pub struct LoginLimiter {
    store: Store,
    settings: LoginSettings,
}

/// The limiter's verdict for one attempt.
#[derive(Debug)]
pub enum Verdict {
    /// Go ahead and check the password; then report the outcome on the attempt.
    Allowed(Attempt),
    /// Refused; the attempt may be retried after this many seconds.
    Limited { retry_after_secs: i64 },
}

/// A reserved sign-in attempt. Left alone it counts as a failure.
#[derive(Debug)]
#[must_use = "an attempt counts as a failure unless it is reported as a success or not counted"]
pub struct Attempt {
    id: String,
    user_key: String,
    pair_key: String,
}

impl LoginLimiter {
    /// A limiter with the configured thresholds.
    pub fn new(store: Store, settings: LoginSettings) -> Self {
        Self { store, settings }
    }

    fn user_key(username: &str) -> String {
        format!("user:{}", token_hash(&username.trim().to_lowercase()))
    }

    /// Reserves a password check for this username from this address at `now`.
    pub async fn reserve(
        &self,
        username: &str,
        addr: &str,
        now: i64,
    ) -> Result<Verdict, StoreError> {
        let user_key = Self::user_key(username);
        let pair_key = format!("pair:{user_key}:{addr}");
        let addr_key = format!("addr:{addr}");
        let id = random_token();
        let s = &self.settings;
        let window = s.failure_window_secs;
        let decide = |stats: &[KeyStats]| decide(s, now, stats[0], stats[1], stats[2]);
        let keys = [pair_key.as_str(), addr_key.as_str(), user_key.as_str()];
        Ok(
            match self
                .store
                .reserve_attempt(&keys, now - window, now, &id, decide)
                .await?
            {
                None => Verdict::Allowed(Attempt {
                    id,
                    user_key,
                    pair_key,
                }),
                Some(retry_after_secs) => Verdict::Limited { retry_after_secs },
            },
        )
    }

    /// The password was right: the attempt and this client's and this username's failures are
    /// forgotten (not the address's: one good password must not reset a spray from there).
    pub async fn succeeded(&self, attempt: Attempt) -> Result<(), StoreError> {
        self.store.release_attempt(&attempt.id).await?;
        self.store
            .clear_attempts(&[&attempt.pair_key, &attempt.user_key])
            .await
    }

    /// The attempt tested no password (empty, directory down, broker busy): it does not count.
    pub async fn not_counted(&self, attempt: Attempt) -> Result<(), StoreError> {
        self.store.release_attempt(&attempt.id).await
    }

    /// Reserves one OIDC sign-in start for this address (each writes a row until its callback),
    /// `Some(seconds)` when the address has started too many within the window.
    pub async fn reserve_oidc_start(
        &self,
        addr: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let key = format!("oidc-start:{addr}");
        let window = self.settings.failure_window_secs;
        let limit = self.settings.max_oidc_starts_per_address;
        self.store
            .reserve_attempt(&[&key], now - window, now, &random_token(), |stats| {
                over_budget(stats[0], limit, window, now)
            })
            .await
    }
}

/// `Some(seconds until the oldest attempt leaves the window)` when `stats` has used `limit`.
fn over_budget(stats: KeyStats, limit: i64, window: i64, now: i64) -> Option<i64> {
    (stats.count >= limit).then(|| stats.oldest.map_or(window, |t| t + window - now).max(1))
}

/// The policy of the module doc, on the counts of the (username, address), address and
/// username keys: `None` to allow, `Some(retry after)` to refuse.
fn decide(
    s: &LoginSettings,
    now: i64,
    pair: KeyStats,
    addr: KeyStats,
    user: KeyStats,
) -> Option<i64> {
    let window = s.failure_window_secs;
    let mut wait = [
        over_budget(pair, s.max_failures_per_user, window, now),
        over_budget(addr, s.max_failures_per_address, window, now),
    ]
    .into_iter()
    .flatten()
    .max();
    if pair.count > 0 && user.count >= s.max_failures_per_user {
        if let Some(newest) = user.newest {
            let gap = newest + s.user_backoff_secs - now;
            if gap > 0 {
                wait = Some(wait.map_or(gap, |w| w.max(gap)));
            }
        }
    }
    wait
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LoginSettings {
        LoginSettings {
            max_failures_per_user: 5,
            max_failures_per_address: 20,
            failure_window_secs: 900,
            user_backoff_secs: 10,
            max_oidc_starts_per_address: 300,
        }
    }

    fn stats(count: i64, oldest: i64, newest: i64) -> KeyStats {
        KeyStats {
            count,
            oldest: (count > 0).then_some(oldest),
            newest: (count > 0).then_some(newest),
        }
    }

    #[test]
    fn a_client_over_its_budget_for_a_user_waits_for_the_window() {
        let s = settings();
        let verdict = decide(
            &s,
            1000,
            stats(5, 400, 990),
            stats(5, 400, 990),
            stats(5, 400, 990),
        );
        assert_eq!(verdict, Some(300));
    }

    #[test]
    fn a_client_that_never_failed_is_never_held_back_by_others_failures() {
        let s = settings();
        // 500 failures for the username from elsewhere, the newest a second ago.
        let verdict = decide(
            &s,
            1000,
            stats(0, 0, 0),
            stats(0, 0, 0),
            stats(500, 100, 999),
        );
        assert_eq!(verdict, None);
    }

    #[test]
    fn a_client_that_failed_backs_off_while_the_user_is_under_attack() {
        let s = settings();
        let verdict = decide(
            &s,
            1000,
            stats(1, 990, 990),
            stats(1, 990, 990),
            stats(50, 100, 996),
        );
        assert_eq!(verdict, Some(6));
        // Once the gap has passed, it may try again.
        let verdict = decide(
            &s,
            1010,
            stats(1, 990, 990),
            stats(1, 990, 990),
            stats(50, 100, 996),
        );
        assert_eq!(verdict, None);
    }

    #[test]
    fn an_address_spraying_many_users_is_stopped() {
        let s = settings();
        let verdict = decide(
            &s,
            1000,
            stats(0, 0, 0),
            stats(20, 700, 999),
            stats(0, 0, 0),
        );
        assert_eq!(verdict, Some(600));
    }
}
