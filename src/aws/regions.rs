//! Regional AWS sign-in endpoints with health probes and failover.
//!
//! AWS sign-in is regional: `https://<region>.signin.aws.amazon.com/saml` per Region. The
//! configured Regions are kept in order; the first that is healthy (and not drained by an admin)
//! serves, unless an admin pinned one. Destination, Recipient and RelayState are always built for
//! the Region actually chosen. Health is per instance (each instance probes for itself); pins and
//! drains are in the database, so every instance obeys them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::aws::failover::{order, WhenAllDown};
use crate::domain::aws::{Partition, Region, RegionEntry};
use crate::store::{EndpointHealth, Store, StoreError};

/// One configured sign-in endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionEndpoint {
    pub region: Region,
    pub acs_url: String,
    pub console_url: String,
}

/// What the last probe of an endpoint found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// `None` until the first probe.
    pub healthy: Option<bool>,
    pub last_probe: Option<i64>,
    pub latency_ms: Option<u64>,
    pub error: Option<String>,
    /// The instance whose probe this is.
    pub probed_by: Option<String>,
}

impl Health {
    fn of(record: &EndpointHealth) -> Health {
        Health {
            healthy: Some(record.healthy),
            last_probe: Some(record.checked_at),
            latency_ms: record.latency_ms.and_then(|ms| u64::try_from(ms).ok()),
            error: record.error.clone(),
            probed_by: Some(record.checked_by.clone()),
        }
    }
}

/// Why no endpoint could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    #[error("Region `{0}` is not one of the configured sign-in Regions")]
    Unknown(String),
    #[error("Region `{0}` is drained by an administrator; choose another Region or leave the choice to fedbroker")]
    Drained(String),
    #[error("the AWS sign-in endpoint of Region `{0}` is not answering; choose another Region or leave the choice to fedbroker")]
    Down(String),
    #[error("no AWS sign-in Region is available: every configured Region is down or drained")]
    NoneAvailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `[regions]`
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSettings {
    pub acs: Vec<RegionEntry>,
    pub probe_interval_secs: u64,
    pub probe_timeout_secs: u64,
}

/// What an admin does to a Region's place in the choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionControlChange {
    /// Always use this Region (one pinned Region at a time).
    Pin,
    /// Never use it.
    Drain,
    /// Back to the health-based choice.
    Clear,
}

impl RegionControlChange {
    /// `pin`, `drain` or `clear`, as the admin form and the audit log name them.
    pub fn parse(action: &str) -> Option<RegionControlChange> {
        match action {
            "pin" => Some(RegionControlChange::Pin),
            "drain" => Some(RegionControlChange::Drain),
            "clear" => Some(RegionControlChange::Clear),
            _ => None,
        }
    }

    fn action(self) -> &'static str {
        match self {
            RegionControlChange::Pin => "pin",
            RegionControlChange::Drain => "drain",
            RegionControlChange::Clear => "clear",
        }
    }

    fn mode(self) -> Option<&'static str> {
        match self {
            RegionControlChange::Pin => Some("pinned"),
            RegionControlChange::Drain => Some("drained"),
            RegionControlChange::Clear => None,
        }
    }
}

/// The chosen endpoint and why it was chosen.
#[derive(Debug, Clone)]
pub struct Choice {
    pub endpoint: RegionEndpoint,
    pub reason: &'static str,
}

/// Status of one Region for the admin page.
#[derive(Debug, Clone)]
pub struct RegionStatus {
    pub endpoint: RegionEndpoint,
    pub health: Health,
    pub control: Option<String>,
    pub serving: bool,
}

/// `endpoint_health.kind` of sign-in Regions.
const SIGNIN: &str = "signin";

/// The lease of the instance that probes the sign-in endpoints for all.
const PROBE_LEASE: &str = "signin-probes";

/// The configured endpoints, their health, and the choice among them.
pub struct RegionRouter {
    endpoints: Vec<RegionEndpoint>,
    /// This instance's name in the shared health (`host:pid:nonce`).
    instance: String,
    probe_timeout: Duration,
    client: reqwest::Client,
    store: Store,
}

impl RegionRouter {
    /// Builds the endpoint list from `[regions]` and the partition.
    pub fn new(
        settings: &RegionSettings,
        partition: Partition,
        store: Store,
    ) -> anyhow::Result<RegionRouter> {
        let endpoints = settings
            .acs
            .iter()
            .map(|entry| RegionEndpoint {
                acs_url: entry
                    .url
                    .clone()
                    .unwrap_or_else(|| partition.acs_url(&entry.region)),
                console_url: partition.console_url(&entry.region),
                region: entry.region.clone(),
            })
            .collect();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(settings.probe_timeout_secs))
            .connect_timeout(Duration::from_secs(settings.probe_timeout_secs))
            .build()?;
        Ok(RegionRouter {
            endpoints,
            instance: super::instance_name(),
            probe_timeout: Duration::from_secs(settings.probe_timeout_secs),
            client,
            store,
        })
    }

    /// The endpoints, in configured order.
    pub fn endpoints(&self) -> &[RegionEndpoint] {
        &self.endpoints
    }

    /// Every configured sign-in (ACS) URL, in order: what trust policies list.
    pub fn acs_urls(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.acs_url.clone()).collect()
    }

    /// The first configured sign-in URL: the Recipient of assertions sent to STS, and where
    /// AWS publishes a provider's metadata beside.
    pub fn first_acs_url(&self) -> String {
        self.endpoints
            .first()
            .map(|e| e.acs_url.clone())
            .unwrap_or_default()
    }

    /// The endpoint of a Region, if configured.
    pub fn endpoint(&self, region: &str) -> Option<&RegionEndpoint> {
        self.endpoints.iter().find(|e| e.region.as_str() == region)
    }

    /// Every Region's health as the instances share it (from memory while none went up or
    /// down): the same on every instance, whichever probed.
    async fn shared_health(&self) -> Result<HashMap<Region, Health>, StoreError> {
        Ok(self
            .store
            .endpoint_health(SIGNIN)
            .await?
            .iter()
            .filter_map(|h| {
                let endpoint = self.endpoint(&h.name)?;
                Some((endpoint.region.clone(), Health::of(h)))
            })
            .collect())
    }

    async fn probe(&self, endpoint: &RegionEndpoint, now: i64) -> Health {
        let started = Instant::now();
        let result = self.client.get(&endpoint.acs_url).send().await;
        let latency_ms = Some(started.elapsed().as_millis() as u64);
        match result {
            Ok(res) if res.status().is_server_error() => Health {
                healthy: Some(false),
                last_probe: Some(now),
                latency_ms,
                probed_by: None,
                error: Some(format!("answered HTTP {}", res.status().as_u16())),
            },
            Ok(_) => Health {
                healthy: Some(true),
                last_probe: Some(now),
                latency_ms,
                probed_by: None,
                error: None,
            },
            Err(e) => Health {
                healthy: Some(false),
                last_probe: Some(now),
                latency_ms,
                probed_by: None,
                error: Some(if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    "connection failed".to_string()
                } else {
                    "request failed".to_string()
                }),
            },
        }
    }

    /// Probes every endpoint once, concurrently, and records the results for every instance
    /// (a failure to record is logged: the next probe records again).
    pub async fn probe_all(&self, now: i64) {
        let before = self.shared_health().await.unwrap_or_default();
        let results = futures_util::future::join_all(
            self.endpoints
                .iter()
                .map(|e| async move { (e.region.clone(), self.probe(e, now).await) }),
        )
        .await;
        for (region, h) in results {
            if h.healthy == Some(false)
                && before.get(&region).and_then(|p| p.healthy) != Some(false)
            {
                tracing::warn!(region = %region, error = h.error.as_deref().unwrap_or(""), "AWS sign-in endpoint is down");
            }
            let record = EndpointHealth {
                kind: SIGNIN.into(),
                name: region.to_string(),
                healthy: h.healthy == Some(true),
                latency_ms: h.latency_ms.and_then(|ms| i64::try_from(ms).ok()),
                error: h.error,
                checked_at: now,
                checked_by: self.instance.clone(),
                down_until: 0,
            };
            if let Err(e) = self.store.record_endpoint_health(&record).await {
                tracing::warn!(region = %region, error = %e, "the probe's result could not be shared");
            }
        }
    }

    /// Chooses the endpoint for a sign-in: the admin's pin, else the user's explicit choice,
    /// else the first healthy, undrained Region in configured order. The pin wins over the
    /// user's choice because an admin pins to keep sign-in where it must be (a Region outage
    /// elsewhere, data residency); the portal shows only the pinned Region while a pin holds.
    pub async fn choose(&self, requested: Option<&str>) -> Result<Choice, RegionError> {
        let controls = self.store.region_controls().await?;
        let requested = requested.filter(|n| !n.is_empty());
        if let Some(endpoint) = self.pinned_in(&controls) {
            let overruled = requested.is_some_and(|r| r != endpoint.region.as_str());
            return Ok(Choice {
                endpoint: endpoint.clone(),
                reason: if overruled {
                    "pinned by an administrator (the pin overrides the Region you chose)"
                } else {
                    "pinned by an administrator"
                },
            });
        }
        let drained = |r: &Region| {
            controls
                .iter()
                .any(|c| c.region == r.as_str() && c.mode == "drained")
        };
        let health = self.shared_health().await?;
        let down = |r: &Region| health.get(r).and_then(|h| h.healthy) == Some(false);
        if let Some(name) = requested {
            let endpoint = self
                .endpoint(name)
                .ok_or_else(|| RegionError::Unknown(name.to_string()))?;
            if drained(&endpoint.region) {
                return Err(RegionError::Drained(name.to_string()));
            }
            if down(&endpoint.region) {
                return Err(RegionError::Down(name.to_string()));
            }
            return Ok(Choice {
                endpoint: endpoint.clone(),
                reason: "chosen by the user",
            });
        }
        let endpoints = &self.endpoints;
        order(
            endpoints.len(),
            |i| drained(&endpoints[i].region),
            |i| down(&endpoints[i].region),
            WhenAllDown::Nothing,
        )
        .first()
        .map(|&i| Choice {
            endpoint: endpoints[i].clone(),
            reason: "first healthy Region",
        })
        .ok_or(RegionError::NoneAvailable)
    }

    /// The configured endpoint an admin pinned, if any.
    fn pinned_in(&self, controls: &[crate::store::RegionControl]) -> Option<&RegionEndpoint> {
        controls
            .iter()
            .filter(|c| c.mode == "pinned")
            .find_map(|c| self.endpoint(&c.region))
    }

    /// Pins, drains or clears a configured Region for every instance, and records who did it.
    pub async fn set_control(
        &self,
        region: &str,
        change: RegionControlChange,
        actor: &str,
        now: i64,
    ) -> Result<(), RegionError> {
        if self.endpoint(region).is_none() {
            return Err(RegionError::Unknown(region.to_string()));
        }
        let mode = change.mode();
        self.store
            .set_region_control(region, mode, actor, now)
            .await?;
        tracing::info!(admin = %actor, region = %region, action = change.action(), "Region control changed");
        self.store
            .record_admin_change(
                actor,
                "region_control",
                region,
                change.action(),
                serde_json::json!({ "mode": mode }),
                now,
            )
            .await;
        Ok(())
    }

    /// The Region an admin pinned sign-in to, if any (the portal offers only that one).
    pub async fn pinned(&self) -> Result<Option<Region>, RegionError> {
        let controls = self.store.region_controls().await?;
        Ok(self.pinned_in(&controls).map(|e| e.region.clone()))
    }

    /// Every Region with its health, control and whether it serves now.
    pub async fn status(&self) -> Result<Vec<RegionStatus>, RegionError> {
        let controls = self.store.region_controls().await?;
        let serving = self.choose(None).await.ok().map(|c| c.endpoint.region);
        // Read now, not from memory: the page shows each probe's time, latency and prober.
        let health = self.store.endpoint_health_now(Some(SIGNIN)).await?;
        Ok(self
            .endpoints
            .iter()
            .map(|e| RegionStatus {
                health: health
                    .iter()
                    .find(|h| h.name == e.region.as_str())
                    .map(Health::of)
                    .unwrap_or_default(),
                control: controls
                    .iter()
                    .find(|c| c.region == e.region.as_str())
                    .map(|c| c.mode.clone()),
                serving: serving.as_ref() == Some(&e.region),
                endpoint: e.clone(),
            })
            .collect())
    }

    /// Probes in the background every `interval`, for as long as the process runs.
    pub fn spawn_prober(self: Arc<Self>, interval: Duration) {
        // One instance probes for all, under a lease it renews each round; when it stops,
        // the lease runs out after two missed rounds and another instance takes over.
        let ttl = i64::try_from(interval.as_secs().saturating_mul(2)).unwrap_or(i64::MAX / 4)
            + i64::try_from(self.probe_timeout.as_secs()).unwrap_or(0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let now = crate::clock::now();
                match self
                    .store
                    .take_lease(PROBE_LEASE, &self.instance, now, ttl)
                    .await
                {
                    Ok(true) => self.probe_all(now).await,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot take the probe lease; not probing this round")
                    }
                }
            }
        });
    }
}
