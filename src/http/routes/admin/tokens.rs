//! `/admin/tokens`: everyone's live API tokens and command-line sign-ins, filtered by user,
//! each revocable by an admin (a leaked token, a departed contractor's laptop). The revoke is
//! the owner's own operation, recorded with the admin as actor.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::when;
use crate::auth::api_tokens::{self, Owner};
use crate::auth::cli_sign_in;
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::routes::{render, AdminUser, Nav};
use crate::http::state::AppState;
use crate::store::ADMIN_LIST_LIMIT;

struct TokenRow {
    id: i64,
    username: String,
    name: String,
    scopes: String,
    created: String,
    expires: String,
    last_used: String,
}

struct GrantRow {
    id: i64,
    username: String,
    device: String,
    created: String,
    expires: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    nav: Option<Nav>,
    user_filter: String,
    tokens: Vec<TokenRow>,
    grants: Vec<GrantRow>,
    /// The list stops at this many of each kind; `truncated` when it did.
    limit: usize,
    truncated: bool,
}

/// `?user=`
#[derive(Deserialize, Debug, Default)]
pub struct TokenQuery {
    #[serde(default)]
    user: String,
}

/// `GET /admin/tokens?user=`
pub async fn get_tokens(
    state: web::Data<AppState>,
    admin: AdminUser,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    let filter = query.user.trim();
    let user = Some(filter).filter(|f| !f.is_empty());
    let at = now();
    let tokens: Vec<TokenRow> = state
        .store
        .live_api_tokens(user, at)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.token.id,
            username: t.username,
            name: t.token.name,
            scopes: t.token.scopes,
            created: when(Some(t.token.created_at)),
            expires: when(Some(t.token.expires_at)),
            last_used: when(t.token.last_used_at),
        })
        .collect();
    let grants: Vec<GrantRow> = state
        .store
        .live_cli_grants(user, at)
        .await?
        .into_iter()
        .map(|g| GrantRow {
            id: g.grant.id,
            username: g.username,
            device: g.grant.device,
            created: when(Some(g.grant.created_at)),
            expires: when(Some(g.grant.expires_at)),
            last_used: when(g.grant.last_used_at),
        })
        .collect();
    let limit = ADMIN_LIST_LIMIT as usize;
    let truncated = tokens.len() > limit || grants.len() > limit;
    render(&TokensPage {
        nav: Some(admin.0.nav()),
        user_filter: filter.to_string(),
        tokens: tokens.into_iter().take(limit).collect(),
        grants: grants.into_iter().take(limit).collect(),
        limit,
        truncated,
    })
}

/// Revoke one token (`kind=token`) or command-line sign-in (`kind=cli`) of `user`.
#[derive(Deserialize, Debug, Default)]
pub struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    id: i64,
    /// The owner, so that an id from another person's row cannot be mistaken for theirs.
    #[serde(default)]
    user: String,
    /// The list's filter, kept across the redirect.
    #[serde(default)]
    filter: String,
}

impl CsrfToken for RevokeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /admin/tokens`
pub async fn post_tokens(
    state: web::Data<AppState>,
    CsrfForm { user: admin, form }: CsrfForm<RevokeForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    let actor = admin.0.identity.username.as_str();
    let owner = match crate::auth::user_admin::find_user(&state.store, &form.user).await {
        Ok(owner) => owner,
        Err(crate::auth::user_admin::UserAdminError::Store(e)) => return Err(e.into()),
        Err(_) => {
            return Err(AppError::BadRequest(format!(
                "no user `{}`",
                form.user.trim()
            )))
        }
    };
    let at = now();
    let revoked = match form.kind.as_str() {
        "token" => {
            let owner = Owner {
                user_id: owner.id,
                username: &owner.username,
            };
            api_tokens::revoke(&state.store, actor, owner, form.id, at).await?
        }
        "cli" => cli_sign_in::revoke(&state.store, Some(actor), owner.id, form.id, at).await?,
        other => {
            return Err(AppError::BadRequest(format!(
                "unknown kind `{other}`: use token or cli"
            )))
        }
    };
    if !revoked {
        return Err(AppError::BadRequest(format!(
            "{} has no such active token or sign-in: it was revoked or expired already.",
            owner.username
        )));
    }
    tracing::info!(admin = %actor, user = %owner.username, kind = %form.kind, id = form.id, "token revoked by an admin");
    let back = if form.filter.trim().is_empty() {
        "/admin/tokens".to_string()
    } else {
        format!(
            "/admin/tokens?{}",
            serde_urlencoded::to_string([("user", form.filter.trim())]).unwrap_or_default()
        )
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, back))
        .finish())
}
