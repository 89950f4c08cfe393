//! `/admin/keys`: signing keys, rotation, and the metadata to upload to IAM.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::when;
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::routes::saml::metadata_xml;
use crate::http::routes::{render, AdminUser, Nav};
use crate::http::state::AppState;
use crate::store::StoreError;

struct KeyRow {
    kid: String,
    state: String,
    created: String,
    activated: String,
    retired: String,
    published: bool,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    nav: Option<Nav>,
    keys: Vec<KeyRow>,
    metadata: String,
    entity_id: String,
    message: Option<String>,
}

/// `GET /admin/keys`
pub async fn get_keys(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    keys_page(&state, &admin, None).await
}

async fn keys_page(
    state: &AppState,
    admin: &AdminUser,
    message: Option<String>,
) -> Result<HttpResponse, AppError> {
    let keys = state
        .keys
        .list()
        .await?
        .into_iter()
        .map(|k| KeyRow {
            created: when(Some(k.created_at)),
            activated: when(k.activated_at),
            retired: when(k.retired_at),
            published: k.state == "published",
            kid: k.kid,
            state: k.state,
        })
        .collect();
    render(&KeysPage {
        nav: Some(admin.0.nav()),
        keys,
        metadata: metadata_xml(state).await?,
        entity_id: state.profile.entity_id.clone(),
        message,
    })
}

/// A key action.
#[derive(Deserialize, Debug)]
pub struct KeyForm {
    #[serde(default)]
    csrf_token: String,
    action: String,
    #[serde(default)]
    kid: String,
}

impl CsrfToken for KeyForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /admin/keys`: add, activate or retire a key.
pub async fn post_keys(
    state: web::Data<AppState>,
    CsrfForm { user: admin, form }: CsrfForm<KeyForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    let who = admin.0.identity.username.clone();
    let at = now();
    let result: Result<(), AppError> = match form.action.as_str() {
        "add" => match state.keys.add(&who, at).await {
            Ok(kid) => {
                tracing::info!(admin = %who, kid = %kid, "signing key added (published)");
                Ok(())
            }
            Err(e) => Err(match e.downcast::<StoreError>() {
                Ok(store) => AppError::from(store),
                Err(other) => AppError::BadRequest(format!("{other:#}")),
            }),
        },
        "activate" => match state.keys.activate(&form.kid, &who, at).await {
            Ok(()) => {
                tracing::info!(admin = %who, kid = %form.kid, "signing key activated");
                Ok(())
            }
            Err(e) => Err(match e.downcast::<StoreError>() {
                Ok(store) => key_error(store),
                // This instance cannot read the key: say so on the page.
                Err(other) => AppError::BadRequest(format!("{other:#}")),
            }),
        },
        "retire" => match state.keys.retire(&form.kid, &who, at).await {
            Ok(()) => {
                tracing::info!(admin = %who, kid = %form.kid, "signing key retired");
                Ok(())
            }
            Err(e) => Err(key_error(e)),
        },
        other => Err(AppError::BadRequest(format!(
            "unknown key action `{other}`"
        ))),
    };
    match result {
        Ok(()) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/admin/keys"))
            .finish()),
        Err(AppError::BadRequest(msg)) => {
            let mut res = keys_page(&state, &admin, Some(msg)).await?;
            *res.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
            Ok(res)
        }
        Err(e) => Err(e),
    }
}

fn key_error(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound(what) => AppError::BadRequest(format!("{what} does not exist")),
        StoreError::Invalid(why) => AppError::BadRequest(why),
        other => other.into(),
    }
}
