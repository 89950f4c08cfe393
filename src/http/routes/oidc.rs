//! `GET /login/oidc/{id}` (start) and `GET /login/oidc/{id}/callback` (finish) of an upstream
//! OpenID Provider sign-in. The sign-in under way is kept server-side, found by the hash of its
//! `state` (once), and bound to the browser that started it by a `__Host-` cookie, so a
//! callback URL replayed or planted in another browser goes nowhere.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::login::failure_page;
use super::session_cookie::start_session;
use super::{origin, safe_return_path};
use crate::audit;
use crate::auth::sessions::{random_token, token_hash};
use crate::clock::now;
use crate::directory::oidc::{take_pending, OidcError, OidcProvider, Pending, PENDING_SECS};
use crate::directory::{provision, SignInFailure};
use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::store::OidcLogin;

/// The cookie binding a sign-in under way to its browser.
pub const OIDC_COOKIE: &str = "__Host-fedbroker-oidc";

/// `?next=`
#[derive(Deserialize, Debug)]
pub struct StartQuery {
    next: Option<String>,
}

fn status_of(e: &OidcError) -> StatusCode {
    match e {
        OidcError::ProviderDown(_) => StatusCode::SERVICE_UNAVAILABLE,
        OidcError::StateMismatch => StatusCode::BAD_REQUEST,
        OidcError::GroupOverage { .. } | OidcError::NotAllowed(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_GATEWAY,
    }
}

async fn audit_failure(state: &AppState, req: &HttpRequest, source: &str, reason: &str) {
    let origin = origin(req, &state.settings);
    audit::signin(&state.store, "", false, source, reason, &origin).await;
}

/// The configured provider with this id.
fn provider<'a>(state: &'a AppState, id: &str) -> Result<&'a OidcProvider, AppError> {
    state
        .sources
        .oidc
        .iter()
        .find(|p| p.settings.id == id)
        .ok_or(AppError::NotFound)
}

/// `GET /login/oidc/{id}`
pub async fn get_start(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let provider = provider(&state, &id)?;
    // Each start keeps a row until its callback: an address may start only so many.
    let addr = origin(&req, &state.settings).addr;
    if let Some(retry_after) = state.limiter.reserve_oidc_start(&addr, now()).await? {
        tracing::warn!(client = %addr, source = %id, "OIDC sign-in start refused by rate limit");
        let mut res = failure_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins were started from your network. Wait a few minutes and try again."
                .to_string(),
        )?;
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
        return Ok(res);
    }
    let started = match provider.start().await {
        Ok(s) => s,
        Err(e) => {
            audit_failure(&state, &req, &id, &e.to_string()).await;
            return failure_page(&state, status_of(&e), format!("{e}."));
        }
    };
    let browser = random_token();
    let next = query
        .next
        .as_deref()
        .and_then(safe_return_path)
        .unwrap_or("/")
        .to_string();
    state
        .store
        .insert_oidc_login(&OidcLogin {
            state_hash: token_hash(&started.state),
            provider: id,
            browser_hash: token_hash(&browser),
            pkce_verifier: started.pending.pkce_verifier,
            nonce: started.pending.nonce,
            next,
            created_at: now(),
        })
        .await?;
    // Lax: the provider's redirect back is a top-level GET, which Lax cookies accompany.
    let cookie = Cookie::build(OIDC_COOKIE, browser)
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(PENDING_SECS))
        .finish();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, started.authorize_url))
        .cookie(cookie)
        .finish())
}

/// The provider's answer.
#[derive(Deserialize, Debug)]
pub struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// `GET /login/oidc/{id}/callback`
pub async fn get_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let provider = provider(&state, &id)?;
    let fail = |e: OidcError| {
        let state = state.clone();
        let req = req.clone();
        let id = id.clone();
        async move {
            tracing::info!(source = %id, error = %e, "OIDC sign-in failed");
            audit_failure(&state, &req, &id, &e.to_string()).await;
            failure_page(&state, status_of(&e), format!("{e}."))
        }
    };
    if !query.error.is_empty() {
        let reason = format!("{} {}", query.error, query.error_description);
        return fail(OidcError::Rejected {
            provider: provider.settings.name.clone(),
            reason: reason.trim().to_string(),
        })
        .await;
    }
    let browser = req.cookie(OIDC_COOKIE);
    let browser = browser.as_ref().map(|c| c.value());
    let pending = match take_pending(&state.store, &id, &query.state, browser, now()).await? {
        Ok(p) => p,
        Err(e) => return fail(e).await,
    };
    let person = match provider
        .finish(
            &query.code,
            &Pending {
                pkce_verifier: pending.pkce_verifier.clone(),
                nonce: pending.nonce.clone(),
            },
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return fail(e).await,
    };
    let at = now();
    let identity = match provision(&state.store, &id, &person, at).await {
        Ok(i) => i,
        Err(SignInFailure::Store(e)) => return Err(e.into()),
        Err(e) => return fail(OidcError::NotAllowed(format!("{e}."))).await,
    };
    let origin = origin(&req, &state.settings);
    let session = start_session(&state, &req, &identity, &id, &origin, at).await?;
    let mut removed = Cookie::build(OIDC_COOKIE, "")
        .path("/")
        .secure(true)
        .finish();
    removed.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, pending.next))
        .cookie(session)
        .cookie(removed)
        .finish())
}
