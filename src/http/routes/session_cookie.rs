//! Starting a browser session once a source has vouched for someone (the sign-in form and
//! upstream sign-ins alike), and the cookie that carries it.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;

use crate::audit::{self, Origin};
use crate::http::error::AppError;
use crate::http::state::{AppState, SESSION_COOKIE};

/// Opens a session for someone a source has just vouched for (replacing whatever session the
/// browser held), records the sign-in, and returns the session cookie to set.
pub async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    identity: &crate::directory::Identity,
    source: &str,
    origin: &Origin,
    at: i64,
) -> Result<Cookie<'static>, AppError> {
    let previous = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
    let session = state
        .sessions
        .create(
            identity.user_id,
            &origin.addr,
            &origin.user_agent,
            previous.as_deref(),
            at,
        )
        .await?;
    tracing::info!(user = %identity.username, source = %source, client = %origin.addr, "signed in");
    audit::signin(&state.store, &identity.username, true, source, "", origin).await;
    Ok(session_cookie(&session.cookie_value))
}

/// The session cookie: opaque, Secure, HttpOnly, SameSite=Lax, host-only (`__Host-` prefix).
pub fn session_cookie(value: &str) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value.to_string())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish()
}
