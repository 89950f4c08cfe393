//! Hot rows served from memory without serving stale ones.
//!
//! Every console sign-in reads the same few things: the browser session, the signed-in person
//! and their groups, the Region pins and drains, the learned session limits, the active
//! signing key, the rule-set generation. Each used to be a database round trip per request. Now the database keeps a
//! generation per cached table group (`cache_generations`), bumped by triggers on every insert,
//! update and delete of those tables (so no write path can forget, whichever instance or
//! command-line run makes it); the instance keeps each value with the generation it was read
//! under, and reads the table again only when the generation moved.
//!
//! Reading the generations is itself one small query, and it is shared: concurrent requests
//! wait for one read that *started after they arrived* ([`Coalescer`]). So a request still sees
//! every write committed before it began, exactly as if it had queried the tables itself, while
//! a burst of requests costs one query per wave instead of several per request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::{
    on_pool, EndpointHealth, KeyRecord, Membership, RegionControl, RoleSessionLimit, SessionRecord,
    Store, StoreError, UserRecord,
};

/// The generation of each cached table group, as the database counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Generations {
    pub mapping_rules: i64,
    pub region_controls: i64,
    pub role_session_limits: i64,
    pub signing_keys: i64,
    /// Users, groups and memberships.
    pub identities: i64,
    /// Sessions ended or rotated (not new ones, nor a session's last-seen time).
    pub sessions: i64,
    /// An endpoint going up or down (not each probe's time and latency).
    pub endpoint_health: i64,
    /// Accounts whose SAML provider takes encrypted assertions.
    pub assertion_encryption: i64,
}

impl Generations {
    /// From the `(name, generation)` rows of the generations query; a name this version does
    /// not know is ignored (a newer instance may cache more).
    pub(super) fn from_rows(rows: &[(String, i64)]) -> Generations {
        let mut g = Generations::default();
        for (name, value) in rows {
            let slot = match name.as_str() {
                "mapping_rules" => &mut g.mapping_rules,
                "region_controls" => &mut g.region_controls,
                "role_session_limits" => &mut g.role_session_limits,
                "signing_keys" => &mut g.signing_keys,
                "identities" => &mut g.identities,
                "sessions" => &mut g.sessions,
                "endpoint_health" => &mut g.endpoint_health,
                "assertion_encryption" => &mut g.assertion_encryption,
                _ => continue,
            };
            *slot = *value;
        }
        g
    }
}

/// One cached value and the generation it was read under.
#[derive(Debug)]
pub(super) struct Slot<T>(Mutex<Option<(i64, T)>>);

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot(Mutex::new(None))
    }
}

impl<T: Clone> Slot<T> {
    /// The value, if it was read under `generation`.
    pub fn get(&self, generation: i64) -> Option<T> {
        let slot = self.0.lock().ok()?;
        slot.as_ref()
            .filter(|(g, _)| *g == generation)
            .map(|(_, v)| v.clone())
    }

    /// Keeps a value read under `generation` (read after the generation, so never older).
    pub fn put(&self, generation: i64, value: T) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((generation, value));
        }
    }
}

/// A person's row and memberships, as [`super::Store::user_with_memberships`] returns them.
pub type CachedIdentity = Arc<(UserRecord, Vec<Membership>)>;

/// At most this many entries per keyed cache; past it the memory starts over (a miss costs a
/// query or two, never a wrong answer).
const MAX_ENTRIES: usize = 50_000;

/// Values by key, all read under one generation.
#[derive(Debug)]
pub(super) struct Keyed<K, V>(Mutex<(i64, HashMap<K, V>)>);

impl<K, V> Default for Keyed<K, V> {
    fn default() -> Self {
        Keyed(Mutex::new((0, HashMap::new())))
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Keyed<K, V> {
    pub fn get<Q>(&self, generation: i64, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let map = self.0.lock().ok()?;
        if map.0 != generation {
            return None;
        }
        map.1.get(key).cloned()
    }

    pub fn put(&self, generation: i64, key: K, value: V) {
        if let Ok(mut map) = self.0.lock() {
            // Another generation empties the map: a newer one, or an older one (a slow reader,
            // or a database restored to an earlier point, whose counters went back: what was
            // read after that point must not be served when the counter climbs back).
            if map.0 != generation || map.1.len() >= MAX_ENTRIES {
                *map = (generation, HashMap::new());
            }
            map.1.insert(key, value);
        }
    }
}

/// Shares one generations read among the requests that arrived before it started.
#[derive(Debug, Default)]
pub(super) struct Coalescer {
    /// How many reads have started.
    started: AtomicU64,
    /// The newest read: its sequence number and what it found, or why it failed (shared too:
    /// while the database is down, the waiting requests all get the failure of the one read
    /// that started after they arrived, instead of each waiting out a timeout in turn).
    last: tokio::sync::Mutex<Option<(u64, Result<Generations, Failure>)>>,
}

/// A failed generations read, as the requests that shared it are told.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    unavailable: bool,
    message: String,
}

impl Failure {
    fn of(e: &StoreError) -> Failure {
        Failure {
            unavailable: matches!(e, StoreError::Unavailable(_)),
            message: e.to_string(),
        }
    }

    fn error(&self) -> StoreError {
        if self.unavailable {
            // The kind is what callers act on (503); the pool's own words for it.
            StoreError::Unavailable(sqlx::Error::PoolTimedOut)
        } else {
            StoreError::Invalid(self.message.clone())
        }
    }
}

impl Coalescer {
    /// Generations read by a query that started after this call began: the newest one if a
    /// read started since (the caller waited for it), else a new one.
    pub async fn read<F, Fut>(&self, load: F) -> Result<Generations, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Generations, StoreError>>,
    {
        let arrived = self.started.load(Ordering::SeqCst);
        let mut last = self.last.lock().await;
        if let Some((seq, result)) = &*last {
            if *seq >= arrived {
                return result.clone().map_err(|f| f.error());
            }
        }
        let seq = self.started.fetch_add(1, Ordering::SeqCst);
        let result = load().await;
        *last = Some((seq, result.as_ref().map(|g| *g).map_err(Failure::of)));
        result
    }
}

/// This instance's memory of the hot rows.
#[derive(Debug, Default)]
pub(crate) struct Caches {
    pub generations: Coalescer,
    pub region_controls: Slot<Arc<Vec<RegionControl>>>,
    pub role_session_limits: Slot<Arc<HashMap<String, RoleSessionLimit>>>,
    pub active_key: Slot<Option<KeyRecord>>,
    pub endpoint_health: Slot<Arc<Vec<EndpointHealth>>>,
    pub assertion_encryption: Slot<Arc<Vec<super::EncryptionRecord>>>,
    pub identities: Keyed<i64, CachedIdentity>,
    pub sessions: Keyed<String, SessionRecord>,
    /// Not a cache: the audit events waiting for their grouped insert (`audit_queue.rs`).
    pub audit: super::audit_queue::AuditQueue,
}

tokio::task_local! {
    /// The generations one request read, inside [`Store::with_one_generations_read`].
    static REQUEST_GENERATIONS: OnceLock<Generations>;
}

impl Store {
    /// Runs `work` reading the generations at most once: a request that reads several cached
    /// things (session, person, rules, Regions, key) then pays one wait for one read, not one
    /// per thing. Only for work that writes none of the cached tables: its own write would
    /// otherwise be hidden from its later reads.
    pub async fn with_one_generations_read<F: Future>(work: F) -> F::Output {
        REQUEST_GENERATIONS.scope(OnceLock::new(), work).await
    }

    /// The current generations, read by a query that started after this call began (shared
    /// with the concurrent requests that may share it), or after the request began inside
    /// [`Store::with_one_generations_read`].
    pub async fn generations(&self) -> Result<Generations, StoreError> {
        if let Ok(Some(read)) = REQUEST_GENERATIONS.try_with(|g| g.get().copied()) {
            return Ok(read);
        }
        let read = self.read_generations().await?;
        let _ = REQUEST_GENERATIONS.try_with(|g| g.set(read));
        Ok(read)
    }

    async fn read_generations(&self) -> Result<Generations, StoreError> {
        if let Some(read) = self.embedded.as_ref().and_then(|e| e.generations()) {
            return Ok(read);
        }
        self.cache
            .generations
            .read(|| async {
                let rows: Vec<(String, i64)> = on_pool!(self, |pool| sqlx::query_as(
                    super::embedded::GENERATIONS_SQL
                )
                .fetch_all(pool)
                .await?);
                Ok(Generations::from_rows(&rows))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_read_started_before_arrival_is_not_shared_but_one_started_after_is() {
        let coalescer = Arc::new(Coalescer::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let load = |loads: Arc<AtomicUsize>, value: i64| async move {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Generations {
                identities: value,
                ..Generations::default()
            })
        };
        // Ten callers at once: the first reads; the nine others arrive while that read runs,
        // so it may be older than a write they must see: they wait for one more, shared.
        let calls = (0..10).map(|i| {
            let c = coalescer.clone();
            let l = loads.clone();
            async move { c.read(|| load(l, i)).await.expect("read") }
        });
        let results = futures_util::future::join_all(calls).await;
        let n = loads.load(Ordering::SeqCst);
        assert_eq!(n, 2, "ten concurrent callers made {n} reads");
        assert_eq!(results[0].identities, 0);
        assert!(
            results[1..].iter().all(|g| g.identities == 1),
            "the nine later callers share the second read: {results:?}"
        );
        // A caller arriving after everything finished reads anew.
        let again = coalescer
            .read(|| load(loads.clone(), 99))
            .await
            .expect("read");
        assert_eq!(again.identities, 99);
        assert_eq!(loads.load(Ordering::SeqCst), n + 1);
    }

    #[tokio::test]
    async fn a_failed_read_is_shared_not_waited_out_by_each_caller_in_turn() {
        let coalescer = Arc::new(Coalescer::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let calls = (0..10).map(|_| {
            let (c, l) = (coalescer.clone(), loads.clone());
            async move {
                c.read(|| async move {
                    l.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut))
                })
                .await
            }
        });
        let results = futures_util::future::join_all(calls).await;
        assert_eq!(loads.load(Ordering::SeqCst), 2, "two reads for ten callers");
        assert!(results
            .iter()
            .all(|r| matches!(r, Err(StoreError::Unavailable(_)))));
    }

    #[test]
    fn slots_answer_only_for_their_generation() {
        let slot: Slot<i32> = Slot::default();
        assert_eq!(slot.get(0), None);
        slot.put(3, 7);
        assert_eq!(slot.get(3), Some(7));
        assert_eq!(slot.get(4), None);
    }

    #[test]
    fn generations_ignore_names_they_do_not_know() {
        let g = Generations::from_rows(&[
            ("signing_keys".into(), 4),
            ("identities".into(), 9),
            ("something_newer".into(), 1),
        ]);
        assert_eq!(g.signing_keys, 4);
        assert_eq!(g.identities, 9);
        assert_eq!(g.mapping_rules, 0);
    }
}
