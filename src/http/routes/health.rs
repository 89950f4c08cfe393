//! Liveness, readiness and metrics for orchestrators and monitoring.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::state::AppState;

/// `/healthz`: the process is up and serving.
pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// `/readyz`: 200 when the database answers, 503 (with the reason) when it does not; each LDAP
/// source `up` or `degraded`, nothing more.
pub async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    let engine = state.store.engine();
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

/// `/metrics`: Prometheus text format.
pub async fn get_metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(format!(
            "{}# HELP fedbroker_password_checks_total Passwords checked against a stored hash.\n\
             # TYPE fedbroker_password_checks_total counter\n\
             fedbroker_password_checks_total {}\n",
            state.metrics.render(),
            crate::directory::local::password_checks()
        ))
}
