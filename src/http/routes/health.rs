//! Liveness, readiness and metrics for orchestrators and monitoring.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::domain::token::{secrets_equal, token_hash};
use crate::http::state::AppState;
use crate::metrics::Operations;

/// `/healthz`: the process is up and serving.
pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// `/readyz`: 200 when the database answers, 503 (with the reason) when it does not or when the
/// broker is draining before it stops; each LDAP source `up` or `degraded`, nothing more.
pub async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    let engine = state.store.engine();
    // Stopping: requests are still served, but a load balancer should send no new ones.
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().json(json!({
            "status": "draining",
            "reason": "the broker is stopping (SIGTERM); requests are still served until the listener closes",
        }));
    }
    match state.store.ping().await {
        Ok(()) => {
            // Without a signing key it can read, this instance cannot sign anyone in: not
            // ready (a wrong key-encryption key, or a key sealed by another installation).
            if let Err(e) = state.keys.signer().await {
                tracing::warn!(error = %format!("{e:#}"), "readiness check: no usable signing key");
                return HttpResponse::ServiceUnavailable().json(json!({
                    "status": "unavailable",
                    "database": {"engine": engine, "status": "up"},
                    "signing_key": {"status": "unusable", "error": "the active signing key cannot be decrypted with this instance's key-encryption key"},
                }));
            }
            // A directory that is down degrades its own sign-ins only: still 200. Its health
            // is cached (see `LdapDirectory::is_up`) and its error text stays in the log: this
            // endpoint answers anyone.
            let probes = futures_util::future::join_all(
                state
                    .sources
                    .ldap
                    .iter()
                    .map(|l| async move { (l.settings.id.clone(), l.is_up().await) }),
            )
            .await;
            let degraded = probes.iter().any(|(_, up)| !up);
            let sources: serde_json::Map<String, serde_json::Value> = probes
                .into_iter()
                .map(|(id, up)| {
                    let status = if up { "up" } else { "degraded" };
                    (id, json!({"kind": "ldap", "status": status}))
                })
                .collect();
            HttpResponse::Ok().json(json!({
                "status": if degraded { "degraded" } else { "ready" },
                "database": {"engine": engine, "status": "up"},
                "sources": sources,
            }))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "unavailable",
                "database": {"engine": engine, "status": "down", "error": "the database does not answer"}
            }))
        }
    }
}

/// `/metrics` on the public listener: only with the bearer token of `metrics.token`. Without a
/// token configured it does not exist here (it may have a listener of its own).
pub async fn get_metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if state.settings.metrics.token.is_empty() {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(
                "/metrics is not served here: set metrics.listen for a listener of its own, or \
                 metrics.token to open it here with a bearer token.\n",
            );
    }
    match refused_scrape(&req, &state) {
        Some(refused) => refused,
        None => metrics_page(&state).await,
    }
}

/// `/metrics` on the listener of `metrics.listen`: open on loopback, and behind the token when
/// one is set (the configuration check requires one off loopback).
pub async fn get_private_metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match refused_scrape(&req, &state) {
        Some(refused) => refused,
        None => metrics_page(&state).await,
    }
}

/// The 401 for a scrape without the configured token. Hashes are compared, so neither the
/// token nor its length shows in the time taken.
fn refused_scrape(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let token = state.settings.metrics.token.expose();
    if token.is_empty() {
        return None;
    }
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if secrets_equal(&token_hash(sent), &token_hash(token)) {
        return None;
    }
    Some(
        HttpResponse::Unauthorized()
            .insert_header((
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"fedbroker metrics\"",
            ))
            .content_type("text/plain; charset=utf-8")
            .body("Send the token of metrics.token as `Authorization: Bearer TOKEN`.\n"),
    )
}

async fn metrics_page(state: &AppState) -> HttpResponse {
    let now = crate::clock::now();
    let sign_in_regions = state
        .regions
        .status()
        .await
        .map(|regions| {
            regions
                .into_iter()
                .map(|r| (r.endpoint.region.to_string(), r.health.healthy, r.serving))
                .collect()
        })
        .unwrap_or_default();
    let signing_key_age_secs = match state.keys.list().await {
        Ok(keys) => keys
            .iter()
            .find(|k| k.state == "active")
            .map(|k| now - k.created_at),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the key ring could not be read");
            None
        }
    };
    let operations = Operations {
        events: crate::store::event_counts(),
        password_checks: crate::directory::local::password_checks(),
        sign_in_regions,
        sts_endpoints: match state.sts.status().await {
            Ok(endpoints) => endpoints
                .into_iter()
                .map(|e| (e.endpoint.region.to_string(), e.down_until <= now))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the STS endpoint health could not be read");
                Vec::new()
            }
        },
        signing_key_age_secs,
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(format!("{}{}", state.metrics.render(), operations.render()))
}
