//! Attempts counted against limit keys (sign-in failures, OIDC sign-in starts).
//!
//! A limit only holds under a burst if checking it and counting the new attempt are one step:
//! [`Store::reserve_attempt`] first writes a lock row for each key (so concurrent reservations
//! of the same key wait for each other, within one database and across broker instances), then
//! reads the keys' counts, lets the caller decide, and records the attempt, all in one
//! transaction. On SQLite the first write takes the database's write lock; on PostgreSQL the
//! upsert takes the lock row's row lock until commit.

use super::{on_pool, Store, StoreError};

/// What the keys of a reservation hold at the moment of the decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// Attempts under the key at or after `since`.
    pub count: i64,
    /// Time of the oldest of them.
    pub oldest: Option<i64>,
    /// Time of the newest of them.
    pub newest: Option<i64>,
}

impl Store {
    /// Atomically checks and reserves one attempt under every key in `keys`.
    ///
    /// `decide` sees the keys' [`KeyStats`] since `since` (in the order of `keys`) and returns
    /// `None` to grant or `Some(seconds)` to refuse with a retry delay. When granted, one row
    /// per key is written, tagged `attempt`, so that [`Store::release_attempt`] can take it back.
    pub async fn reserve_attempt<F>(
        &self,
        keys: &[&str],
        since: i64,
        now: i64,
        attempt: &str,
        decide: F,
    ) -> Result<Option<i64>, StoreError>
    where
        F: Fn(&[KeyStats]) -> Option<i64>,
    {
        // Locks are always taken in the same (sorted) order, so two reservations sharing keys
        // cannot deadlock.
        let mut lock_order: Vec<&str> = keys.to_vec();
        lock_order.sort_unstable();
        lock_order.dedup();
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for key in &lock_order {
                sqlx::query(
                    "INSERT INTO limit_locks (limit_key, used_at) VALUES ($1, $2) \
                     ON CONFLICT (limit_key) DO UPDATE SET used_at = excluded.used_at",
                )
                .bind(key)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            let mut stats = Vec::with_capacity(keys.len());
            for key in keys {
                let (count, oldest, newest): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(at), MAX(at) FROM login_failures \
                     WHERE limit_key = $1 AND at >= $2",
                )
                .bind(key)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?;
                stats.push(KeyStats {
                    count,
                    oldest,
                    newest,
                });
            }
            if let Some(retry_after) = decide(&stats) {
                tx.commit().await?;
                return Ok(Some(retry_after));
            }
            for key in keys {
                sqlx::query(
                    "INSERT INTO login_failures (limit_key, at, attempt) VALUES ($1, $2, $3)",
                )
                .bind(key)
                .bind(now)
                .bind(attempt)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(None)
        })
    }

    /// Takes back the rows of a reserved attempt (it did not count, or it succeeded).
    pub async fn release_attempt(&self, attempt: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM login_failures WHERE attempt = $1")
                .bind(attempt)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Forgets every attempt under the keys (after a successful sign-in).
    pub async fn clear_attempts(&self, keys: &[&str]) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for key in keys {
                sqlx::query("DELETE FROM login_failures WHERE limit_key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Attempt rows under a key since a time (tests and the admin view).
    pub async fn attempts_since(&self, key: &str, since: i64) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let (count,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM login_failures WHERE limit_key = $1 AND at >= $2",
            )
            .bind(key)
            .bind(since)
            .fetch_one(pool)
            .await?;
            Ok(count)
        })
    }
}
