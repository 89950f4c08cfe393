//! `/admin/regions`: health of the regional AWS sign-in endpoints; pin, drain, probe.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::when;
use crate::aws::regions::RegionControlChange;
use crate::aws::regions::RegionError;
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::routes::{render, AdminUser, Nav};
use crate::http::state::AppState;

struct RegionRow {
    region: String,
    acs_url: String,
    health: &'static str,
    last_probe: String,
    latency: String,
    error: String,
    probed_by: String,
    control: String,
    serving: bool,
}

struct StsRow {
    region: String,
    url: String,
    health: &'static str,
    error: String,
    seen_by: String,
}

struct LimitRow {
    role: String,
    max_hours: i64,
    refused_hours: i64,
    learned: String,
}

#[derive(Template)]
#[template(path = "admin/regions.html")]
struct RegionsPage {
    nav: Option<Nav>,
    rows: Vec<RegionRow>,
    serving: String,
    sts: Vec<StsRow>,
    limits: Vec<LimitRow>,
    /// Set when failover between sign-in endpoints cannot help: why.
    single_endpoint: String,
}

fn region_error(e: RegionError) -> AppError {
    match e {
        RegionError::Store(s) => s.into(),
        other => AppError::BadRequest(other.to_string()),
    }
}

/// `GET /admin/regions`
pub async fn get_regions(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    let status = state.regions.status().await.map_err(region_error)?;
    let serving = status
        .iter()
        .find(|s| s.serving)
        .map(|s| s.endpoint.region.to_string())
        .unwrap_or_else(|| "none: every Region is down or drained".to_string());
    let rows: Vec<RegionRow> = status
        .into_iter()
        .map(|s| RegionRow {
            region: s.endpoint.region.to_string(),
            acs_url: s.endpoint.acs_url,
            health: match s.health.healthy {
                Some(true) => "up",
                Some(false) => "down",
                None => "not probed yet",
            },
            last_probe: when(s.health.last_probe),
            latency: s
                .health
                .latency_ms
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_default(),
            error: s.health.error.unwrap_or_default(),
            probed_by: s.health.probed_by.unwrap_or_default(),
            control: s.control.unwrap_or_default(),
            serving: s.serving,
        })
        .collect();
    let at = now();
    let sts = state
        .sts
        .status()
        .await?
        .into_iter()
        .map(|s| StsRow {
            region: s.endpoint.region.to_string(),
            url: s.endpoint.url,
            health: if s.down_until > at {
                "down"
            } else if s.last_error.is_some() {
                "recovering"
            } else {
                "up"
            },
            error: s.last_error.unwrap_or_default(),
            seen_by: s.seen_by.unwrap_or_default(),
        })
        .collect();
    let limits = state
        .store
        .role_session_limits()
        .await?
        .into_iter()
        .map(|l| LimitRow {
            role: l.role_arn,
            max_hours: l.max_duration / 3600,
            refused_hours: l.refused_duration / 3600,
            learned: when(Some(l.learned_at)),
        })
        .collect();
    let partition = state.profile.partition;
    let single_endpoint = match partition.single_sign_in_endpoint() {
        Some(url) => format!(
            "The {partition} partition has one SAML sign-in endpoint for all its Regions ({url}) and one \
             federation endpoint: when it is down, no other Region's endpoint can take over, and the \
             Region order below changes nothing for the console. CLI credentials still fail over \
             between the regional STS endpoints."
        ),
        None if rows.len() == 1 => "Only one Region is configured in regions.acs: when its sign-in \
             endpoint is down, console sign-in stops. List a second Region to fail over to."
            .to_string(),
        None => String::new(),
    };
    render(&RegionsPage {
        nav: Some(admin.0.nav()),
        rows,
        serving,
        sts,
        limits,
        single_endpoint,
    })
}

/// A Region action.
#[derive(Deserialize, Debug)]
pub struct RegionForm {
    #[serde(default)]
    csrf_token: String,
    action: String,
    #[serde(default)]
    region: String,
    /// For `forget-limit`: the role whose learned MaxSessionDuration is forgotten.
    #[serde(default)]
    role: String,
}

impl CsrfToken for RegionForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /admin/regions`: pin, drain, clear or probe now; or forget a learned session limit.
pub async fn post_regions(
    state: web::Data<AppState>,
    CsrfForm { user: admin, form }: CsrfForm<RegionForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    if form.action == "probe" {
        state.regions.probe_all(now()).await;
    } else if form.action == "forget-limit" {
        let forgotten = crate::aws::credentials::forget_learned_limit(
            &state.store,
            &form.role,
            &admin.0.identity.username,
            now(),
        )
        .await?;
        if !forgotten {
            return Err(AppError::BadRequest(format!(
                "Nothing was learned about `{}`: it is not in the list of roles with a short \
                 MaxSessionDuration.",
                form.role
            )));
        }
    } else {
        let control = RegionControlChange::parse(&form.action).ok_or_else(|| {
            AppError::BadRequest(format!("unknown Region action `{}`", form.action))
        })?;
        state
            .regions
            .set_control(&form.region, control, &admin.0.identity.username, now())
            .await
            .map_err(|e| match e {
                RegionError::Unknown(_) => AppError::BadRequest(format!(
                    "Region `{}` is not configured in regions.acs",
                    form.region
                )),
                other => region_error(other),
            })?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/regions"))
        .finish())
}
