//! Changing one's own password (forced after the bootstrap one-time password).

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{Nav, SignedIn};
use crate::auth::sessions::{token_hash, NewSession};
use crate::clock::now;
use crate::directory::local::{authenticate, hash_password_async, LocalError};
use crate::domain::account::NewPassword;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::state::AppState;
use crate::store::{AccountChange, SessionRotation};

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage {
    nav: Option<Nav>,
    forced: bool,
    error: Option<String>,
    min_chars: usize,
}

/// The change-password form; Debug never shows the passwords.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    current_password: String,
    new_password: String,
    confirm_password: String,
}

impl CsrfToken for PasswordForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordForm { .. }")
    }
}

fn page(
    user: &SignedIn,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let html = PasswordPage {
        nav: Some(user.nav()),
        forced: user.identity.must_change_password,
        error,
        min_chars: NewPassword::MIN_CHARS,
    }
    .render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// `GET /account/password`
pub async fn get_password(user: SignedIn) -> Result<HttpResponse, AppError> {
    page(&user, StatusCode::OK, None)
}

/// `POST /account/password`: checks the current password, sets the new one, ends the user's
/// other sessions and revokes their API tokens (a changed password should lock out whoever
/// else had it, and whatever was made with it), and keeps this session under a fresh id.
pub async fn post_password(
    state: web::Data<AppState>,
    CsrfForm { user, form }: CsrfForm<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let bad = |msg: &str| page(&user, StatusCode::BAD_REQUEST, Some(msg.to_string()));
    if form.new_password != form.confirm_password {
        return bad("The new password and its confirmation differ.");
    }
    if form.new_password == form.current_password {
        return bad("The new password must differ from the current one.");
    }
    let new = match NewPassword::parse(&form.new_password) {
        Ok(p) => p,
        Err(e) => return bad(&format!("{e}.")),
    };
    match authenticate(
        &state.store,
        &user.identity.username,
        &form.current_password,
    )
    .await
    {
        Ok(_) => {}
        Err(LocalError::InvalidCredentials | LocalError::Disabled) => {
            return bad("The current password is wrong.")
        }
        Err(e) => return Err(e.into()),
    }
    let hash = hash_password_async(new).await?;
    // The session in use survives, under a fresh id: an id seen before the change is worthless.
    let fresh = NewSession::generate();
    let new_hash = token_hash(&fresh.cookie_value);
    let revoked = state
        .store
        .set_password(
            &user.identity.username,
            &hash,
            false,
            &AccountChange {
                actor: &user.identity.username,
                at: now(),
                rotate: Some(SessionRotation {
                    old_hash: &user.session.id_hash,
                    new_hash: &new_hash,
                    new_csrf: &fresh.csrf_token,
                }),
            },
        )
        .await?;
    tracing::info!(
        user = %user.identity.username,
        sessions_ended = revoked.sessions,
        tokens_revoked = revoked.tokens,
        "password changed"
    );
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .cookie(super::session_cookie::session_cookie(&fresh.cookie_value))
        .finish())
}
