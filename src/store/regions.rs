//! Admins' pins and drains of sign-in Regions, shared by every instance on the database.

use std::sync::Arc;

use super::{on_pool, Store, StoreError};

/// An admin's pin or drain of a Region.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RegionControl {
    pub region: String,
    pub mode: String,
    pub changed_by: String,
    pub changed_at: i64,
}

impl Store {
    /// Pins (always use) or drains (never use) a Region, or clears that with `None`.
    pub async fn set_region_control(
        &self,
        region: &str,
        mode: Option<&str>,
        by: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            if mode == Some("pinned") {
                // One pinned Region at a time.
                sqlx::query("DELETE FROM region_controls WHERE mode = 'pinned'")
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM region_controls WHERE region = $1")
                .bind(region)
                .execute(&mut *tx)
                .await?;
            if let Some(mode) = mode {
                sqlx::query(
                    "INSERT INTO region_controls (region, mode, changed_by, changed_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(region)
                .bind(mode)
                .bind(by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Current pins and drains (from memory while no instance changed them).
    pub async fn region_controls(&self) -> Result<Arc<Vec<RegionControl>>, StoreError> {
        let generation = self.generations().await?.region_controls;
        if let Some(controls) = self.cache.region_controls.get(generation) {
            return Ok(controls);
        }
        let controls: Vec<RegionControl> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT region, mode, changed_by, changed_at FROM region_controls ORDER BY region"
        )
        .fetch_all(pool)
        .await?);
        let controls = Arc::new(controls);
        self.cache.region_controls.put(generation, controls.clone());
        Ok(controls)
    }
}
