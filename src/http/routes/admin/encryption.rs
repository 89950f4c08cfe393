//! `/admin/encryption`: the IAM SAML providers that take encrypted assertions.
//! Thin: the checks, the fetch from AWS and the audit are in `aws::encryption`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::aws::encryption::{configure, provider_named, EncryptionSetupError};
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::routes::{render, AdminUser, Nav};
use crate::http::state::AppState;
use crate::saml::encrypt::{encrypted_acs_url, EncryptionKey};

struct Row {
    provider: String,
    idp_id: String,
    fingerprint: String,
    expires: String,
    acs_urls: Vec<String>,
    updated: String,
}

#[derive(Template)]
#[template(path = "admin/encryption.html")]
struct EncryptionPage {
    nav: Option<Nav>,
    rows: Vec<Row>,
    error: String,
    form: EncryptionForm,
}

/// Set or remove an account's encrypting provider.
#[derive(Deserialize, Debug, Default)]
pub struct EncryptionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
    /// A SAML provider ARN, or an account id (its provider named `saml.provider_name`).
    #[serde(default)]
    provider: String,
    #[serde(default)]
    idp_id: String,
    /// PEM; empty: fetch it from AWS.
    #[serde(default)]
    certificate: String,
}

impl CsrfToken for EncryptionForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

async fn page(
    state: &AppState,
    admin: &AdminUser,
    error: String,
    form: EncryptionForm,
) -> Result<EncryptionPage, AppError> {
    let acs = state.regions.acs_urls();
    let rows = state
        .store
        .assertion_encryption()
        .await?
        .iter()
        .map(|r| {
            let key = EncryptionKey::from_certificate(&r.certificate).ok();
            Row {
                provider: r.provider_arn.clone(),
                idp_id: r.idp_id.clone(),
                fingerprint: key
                    .as_ref()
                    .map(EncryptionKey::fingerprint)
                    .unwrap_or_else(|| "unreadable".into()),
                expires: key
                    .as_ref()
                    .map(EncryptionKey::not_after)
                    .unwrap_or_default(),
                acs_urls: acs
                    .iter()
                    .map(|u| encrypted_acs_url(u, &r.idp_id))
                    .collect(),
                updated: format!("{} by {}", super::when(Some(r.updated_at)), r.updated_by),
            }
        })
        .collect();
    Ok(EncryptionPage {
        nav: Some(admin.0.nav()),
        rows,
        error,
        form,
    })
}

/// `GET /admin/encryption`
pub async fn get_encryption(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    render(&page(&state, &admin, String::new(), EncryptionForm::default()).await?)
}

/// `POST /admin/encryption`: `save` (certificate pasted, or fetched when empty) or `remove`.
pub async fn post_encryption(
    state: web::Data<AppState>,
    CsrfForm { user: admin, form }: CsrfForm<EncryptionForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    let actor = admin.0.identity.username.clone();
    match form.action.as_str() {
        "remove" => {
            if !state
                .store
                .remove_assertion_encryption(form.provider.trim(), &actor, now())
                .await?
            {
                return Err(AppError::BadRequest(format!(
                    "`{}` is not a provider fedbroker encrypts for.",
                    form.provider.trim()
                )));
            }
        }
        "save" => {
            let provider = provider_named(
                &form.provider,
                state.profile.partition,
                &state.profile.provider_name,
            );
            let saved = match provider {
                Err(why) => Err(EncryptionSetupError::Invalid(why)),
                Ok(provider) => {
                    configure(
                        &state.store,
                        &state.regions.first_acs_url(),
                        &provider,
                        &form.idp_id,
                        &form.certificate,
                        &actor,
                        now(),
                    )
                    .await
                }
            };
            match saved {
                Ok(_) => {}
                Err(EncryptionSetupError::Store(e)) => return Err(e.into()),
                Err(EncryptionSetupError::Invalid(why)) => {
                    let html = page(&state, &admin, why, form).await?.render()?;
                    return Ok(HttpResponse::BadRequest()
                        .content_type("text/html; charset=utf-8")
                        .body(html));
                }
            }
        }
        other => {
            return Err(AppError::BadRequest(format!(
                "unknown action `{other}`: use save or remove"
            )))
        }
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/encryption"))
        .finish())
}
