//! The broker as a SAML service provider of an upstream identity provider:
//! `GET /login/saml/{id}` (SP-initiated start), `POST /saml/sp/{id}/acs` (the answer),
//! `GET /saml/sp/{id}/metadata` (to upload to the provider) and `GET /saml/sp/{id}/slo` (back
//! from the provider's single logout).
//!
//! The request ID a browser waits for is kept server-side and found by a `__Host-` cookie,
//! taken once. That cookie is `SameSite=None`: the answer arrives as a cross-site POST from
//! the provider, which a Lax cookie would not accompany.

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
use crate::directory::{provision, SignInFailure};
use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::saml::upstream::{UpstreamError, UpstreamIdp};
use crate::store::{SamlLogin, SamlSession};

/// The cookie binding a SAML sign-in under way to its browser.
pub const SAML_COOKIE: &str = "__Host-fedbroker-saml";

/// How long a started SAML sign-in waits for its answer.
const PENDING_SECS: i64 = 600;

fn status_of(e: &UpstreamError) -> StatusCode {
    match e {
        UpstreamError::Metadata { .. } => StatusCode::SERVICE_UNAVAILABLE,
        UpstreamError::NotAllowed(_) => StatusCode::FORBIDDEN,
        UpstreamError::Refused { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A refused SAML sign-in: logged, audited with its reason code, and shown on the login page
/// (which also drops the cookie of the sign-in under way: it was taken).
async fn refused(
    state: &AppState,
    origin: &audit::Origin,
    source: &str,
    status: StatusCode,
    e: &UpstreamError,
) -> Result<HttpResponse, AppError> {
    tracing::info!(source = %source, error = %e, "SAML sign-in refused");
    let reason = format!("{}: {e}", e.code());
    audit::signin(&state.store, "", false, source, &reason, origin).await;
    let mut res = failure_page(state, status, format!("{e}."))?;
    res.add_cookie(&removed_cookie())
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(res)
}

fn provider<'a>(state: &'a AppState, id: &str) -> Result<&'a UpstreamIdp, AppError> {
    state
        .upstream_saml
        .iter()
        .find(|p| p.settings.id == id)
        .ok_or(AppError::NotFound)
}

fn removed_cookie() -> Cookie<'static> {
    let mut removed = Cookie::build(SAML_COOKIE, "")
        .path("/")
        .secure(true)
        .finish();
    removed.make_removal();
    removed
}

/// `?next=`
#[derive(Deserialize, Debug)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /login/saml/{id}`: sends the browser to the identity provider with an AuthnRequest.
pub async fn get_start(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let provider = provider(&state, &id)?;
    let addr = origin(&req, &state.settings).addr;
    // Upstream sign-in starts (OIDC and SAML) share one budget per address.
    if let Some(retry_after) = state.limiter.reserve_oidc_start(&addr, now()).await? {
        let mut res = failure_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins were started from your network. Wait a few minutes and try again."
                .into(),
        )?;
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
        return Ok(res);
    }
    let signer = if provider.settings.sign_authn_requests {
        Some(state.keys.signer().await.map_err(AppError::Internal)?)
    } else {
        None
    };
    let started = match provider.start(signer.as_deref(), now()).await {
        Ok(s) => s,
        Err(e) => {
            let origin = origin(&req, &state.settings);
            return refused(&state, &origin, &id, status_of(&e), &e).await;
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
        .insert_saml_login(&SamlLogin {
            browser_hash: token_hash(&browser),
            source: id,
            request_id: started.request_id,
            next,
            created_at: now(),
        })
        .await?;
    let cookie = Cookie::build(SAML_COOKIE, browser)
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::None)
        .max_age(CookieDuration::seconds(PENDING_SECS))
        .finish();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, started.url))
        .cookie(cookie)
        .finish())
}

/// The identity provider's HTTP-POST answer.
#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse", default)]
    saml_response: String,
    #[serde(rename = "RelayState", default)]
    relay_state: String,
}

/// The posted form, read up to [`MAX_FORM_BYTES`] (room for a response at
/// `verify::MAX_RESPONSE_BYTES`, form-encoded); `None` when it is larger. Unreadable fields
/// count as empty: the verifier then says what is missing.
async fn read_form(mut body: web::Payload) -> Option<AcsForm> {
    use futures_util::StreamExt;
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.ok()?;
        if bytes.len() + chunk.len() > MAX_FORM_BYTES {
            return None;
        }
        bytes.extend_from_slice(&chunk);
    }
    Some(serde_urlencoded::from_bytes(&bytes).unwrap_or(AcsForm {
        saml_response: String::new(),
        relay_state: String::new(),
    }))
}

/// The largest ACS form read.
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// `POST /saml/sp/{id}/acs`
pub async fn post_acs(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let provider = provider(&state, &id)?;
    let at = now();
    let origin = origin(&req, &state.settings);
    let form = match read_form(body).await {
        Some(form) => form,
        None => {
            let e = UpstreamError::Refused {
                provider: provider.settings.name.clone(),
                refusal: crate::saml::sp::verify::Refusal::TooLarge,
            };
            return refused(&state, &origin, &id, StatusCode::PAYLOAD_TOO_LARGE, &e).await;
        }
    };
    // The request this browser started here, if any, taken once whatever the outcome.
    let pending = match req.cookie(SAML_COOKIE) {
        Some(c) => {
            state
                .store
                .take_saml_login(&token_hash(c.value()), &id)
                .await?
        }
        None => None,
    }
    .filter(|p| at - p.created_at <= PENDING_SECS);
    let keys = state
        .keys
        .decryption_keys()
        .await
        .map_err(AppError::Internal)?;
    let outcome = provider
        .finish(
            &state.store,
            &form.saml_response,
            pending.as_ref().map(|p| p.request_id.as_str()),
            &keys,
            at,
        )
        .await;
    let (verified, person) = match outcome {
        Ok(x) => x,
        Err(UpstreamError::Store(e)) => return Err(e.into()),
        Err(e) => return refused(&state, &origin, &id, status_of(&e), &e).await,
    };
    let identity = match provision(&state.store, &id, &person, at).await {
        Ok(i) => i,
        Err(SignInFailure::Store(e)) => return Err(e.into()),
        Err(e) => {
            audit::signin(
                &state.store,
                &person.username,
                false,
                &id,
                &e.to_string(),
                &origin,
            )
            .await;
            return failure_page(&state, StatusCode::FORBIDDEN, format!("{e}."));
        }
    };
    let session = start_session(&state, &req, &identity, &id, &origin, at).await?;
    state
        .store
        .insert_saml_session(&SamlSession {
            session_hash: token_hash(session.value()),
            source: id,
            name_id: verified.name_id,
            name_id_format: verified.name_id_format,
            session_index: verified.session_index,
            created_at: at,
        })
        .await?;
    // Where to go: the page the sign-in started from; for an IdP-initiated sign-in, a
    // RelayState that is a path on this broker (never another site).
    let next = match pending {
        Some(p) => p.next,
        None => safe_return_path(&form.relay_state)
            .unwrap_or("/")
            .to_string(),
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(session)
        .cookie(removed_cookie())
        .finish())
}

/// `GET /saml/sp/{id}/metadata`: the broker's SP metadata for this identity provider.
pub async fn get_metadata(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let provider = provider(&state, &path.into_inner())?;
    let certificates: Vec<String> = state
        .keys
        .list()
        .await?
        .into_iter()
        .filter(crate::saml::keys::KeyInfo::is_published)
        .map(|k| k.certificate_b64())
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/samlmetadata+xml")
        .body(provider.sp_metadata(&certificates)))
}

/// `GET /saml/sp/{id}/slo`: back from the identity provider's single logout.
pub async fn get_slo(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    provider(&state, &path.into_inner())?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .finish())
}

/// Where a signed-out browser goes: the identity provider's single logout when the session
/// came from a SAML source that offers one, else the login page.
pub async fn after_logout(state: &AppState, session_hash: &str) -> Result<String, AppError> {
    let Some(s) = state.store.take_saml_session(session_hash).await? else {
        return Ok("/login".into());
    };
    let Some(provider) = state
        .upstream_saml
        .iter()
        .find(|p| p.settings.id == s.source)
    else {
        return Ok("/login".into());
    };
    let signer = if provider.settings.sign_authn_requests {
        state.keys.signer().await.ok()
    } else {
        None
    };
    Ok(provider
        .logout_url(
            &s.name_id,
            &s.name_id_format,
            s.session_index.as_deref(),
            signer.as_deref(),
            now(),
        )
        .await
        .unwrap_or_else(|| "/login".into()))
}
