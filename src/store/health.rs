//! The health of AWS endpoints, shared by every instance, and the lease that lets one
//! instance probe for all.

use std::sync::Arc;

use super::{on_pool, Store, StoreError};

/// One endpoint's health as last seen by some instance.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EndpointHealth {
    /// `signin` (a sign-in Region) or `sts`.
    pub kind: String,
    /// The Region.
    pub name: String,
    pub healthy: bool,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
    pub checked_at: i64,
    /// The instance that saw it (`host:pid`).
    pub checked_by: String,
    /// STS: passed over until then.
    pub down_until: i64,
}

const HEALTH_COLUMNS: &str =
    "kind, name, healthy, latency_ms, error, checked_at, checked_by, down_until";

impl Store {
    /// Records what an instance saw of an endpoint.
    pub async fn record_endpoint_health(&self, h: &EndpointHealth) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO endpoint_health (kind, name, healthy, latency_ms, error, checked_at, \
                 checked_by, down_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (kind, name) DO UPDATE SET healthy = excluded.healthy, \
                 latency_ms = excluded.latency_ms, error = excluded.error, \
                 checked_at = excluded.checked_at, checked_by = excluded.checked_by, \
                 down_until = excluded.down_until",
            )
            .bind(&h.kind)
            .bind(&h.name)
            .bind(h.healthy)
            .bind(h.latency_ms)
            .bind(&h.error)
            .bind(h.checked_at)
            .bind(&h.checked_by)
            .bind(h.down_until)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The endpoints of one kind as last recorded, from memory while no endpoint's up/down
    /// state changed (times, latencies and errors may then be older: see
    /// [`Store::endpoint_health_now`]).
    pub async fn endpoint_health(
        &self,
        kind: &str,
    ) -> Result<Arc<Vec<EndpointHealth>>, StoreError> {
        let generation = self.generations().await?.endpoint_health;
        let all = match self.cache.endpoint_health.get(generation) {
            Some(all) => all,
            None => {
                let all = Arc::new(self.endpoint_health_now(None).await?);
                self.cache.endpoint_health.put(generation, all.clone());
                all
            }
        };
        Ok(Arc::new(
            all.iter().filter(|h| h.kind == kind).cloned().collect(),
        ))
    }

    /// Every field as stored now (the admin page); `kind` narrows.
    pub async fn endpoint_health_now(
        &self,
        kind: Option<&str>,
    ) -> Result<Vec<EndpointHealth>, StoreError> {
        let sql = format!(
            "SELECT {HEALTH_COLUMNS} FROM endpoint_health WHERE ($1 IS NULL OR kind = $1) \
             ORDER BY kind, name"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, EndpointHealth>(&sql)
            .bind(kind)
            .fetch_all(pool)
            .await?))
    }

    /// Takes or renews the lease `name` for `holder` until `now + ttl_secs`: `true` when the
    /// holder has it (it was free, expired, or already this holder's). One statement, so two
    /// instances never both get it.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_secs: i64,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let done = sqlx::query(
                "INSERT INTO probe_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE probe_leases.holder = excluded.holder OR probe_leases.expires_at < $4",
            )
            .bind(name)
            .bind(holder)
            .bind(now + ttl_secs)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
