//! `GET /admin/sources`: each upstream SAML identity provider as this instance sees it (the
//! metadata in use and its age, the signing certificates and their expiry, the last sign-in
//! and the last refusal with its reason), with what to upload to the provider.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::super::{render, AdminUser, Nav};
use super::when;
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::state::AppState;

/// A signing certificate of an identity provider.
struct CertRow {
    subject: String,
    fingerprint: String,
    expires: String,
    /// Expired or within 30 days of it.
    warn: bool,
}

/// One SAML source.
struct SourceRow {
    id: String,
    name: String,
    sp_entity_id: String,
    acs_url: String,
    metadata_from: String,
    idp_entity_id: String,
    fetched: String,
    certificates: Vec<CertRow>,
    last_success: String,
    last_refusal: String,
    metadata_error: String,
}

#[derive(Template)]
#[template(path = "admin/sources.html")]
struct SourcesPage {
    nav: Option<Nav>,
    sources: Vec<SourceRow>,
}

/// `GET /admin/sources`
pub async fn get_sources(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    let at = now();
    let sources = state
        .upstream_saml
        .iter()
        .map(|p| {
            let (status, loaded) = p.status();
            let s = &p.settings;
            SourceRow {
                id: s.id.clone(),
                name: s.name.clone(),
                sp_entity_id: p.sp_entity_id.clone(),
                acs_url: p.acs_url.clone(),
                metadata_from: if s.metadata_url.is_empty() {
                    s.metadata_file.clone()
                } else {
                    s.metadata_url.clone()
                },
                idp_entity_id: loaded
                    .as_ref()
                    .map(|l| l.metadata.entity_id.clone())
                    .unwrap_or_default(),
                fetched: when(loaded.as_ref().map(|l| l.fetched_at)),
                certificates: loaded
                    .as_ref()
                    .map(|l| {
                        l.metadata
                            .certificates
                            .iter()
                            .map(|c| CertRow {
                                subject: c.subject.clone(),
                                fingerprint: c.fingerprint.clone(),
                                expires: when(Some(c.not_after)),
                                warn: c.not_after - at < 30 * 86_400,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                last_success: when(status.last_success),
                last_refusal: status
                    .last_refusal
                    .map(|(t, why)| format!("{} — {why}", when(Some(t))))
                    .unwrap_or_default(),
                metadata_error: status.metadata_error.unwrap_or_default(),
            }
        })
        .collect();
    render(&SourcesPage {
        nav: Some(admin.0.nav()),
        sources,
    })
}
