//! Forms that change state carry the session's CSRF token; [`CsrfForm`] is the only way a
//! handler gets such a form, so a check cannot be forgotten: the extractor resolves the
//! signed-in user (or admin), reads the form and compares its token with the session's in
//! constant time before the handler runs.
//!
//! The two other CSRF defences live with their requests: the sign-in form (no session yet)
//! uses a double-submit cookie (`login.rs`), and `/api/v1` takes bearer tokens only, which a
//! browser never sends on its own.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::extract::{AdminUser, SignedIn};
use crate::auth::sessions::secrets_equal;
use crate::http::error::AppError;

/// A form that carries a CSRF token.
pub trait CsrfToken {
    fn csrf_token(&self) -> &str;
}

/// Someone acting in a browser session, whose session token a form must carry.
pub trait InSession {
    fn session_csrf_token(&self) -> &str;
}

impl InSession for SignedIn {
    fn session_csrf_token(&self) -> &str {
        &self.session.csrf_token
    }
}

impl InSession for AdminUser {
    fn session_csrf_token(&self) -> &str {
        &self.0.session.csrf_token
    }
}

/// A state-changing form posted by `user` (a [`SignedIn`] person, or an [`AdminUser`]), its
/// CSRF token already checked.
pub struct CsrfForm<T, U = SignedIn> {
    pub user: U,
    pub form: T,
}

impl<T, U> FromRequest for CsrfForm<T, U>
where
    T: DeserializeOwned + CsrfToken + 'static,
    U: FromRequest<Error = AppError> + InSession + 'static,
{
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = U::from_request(req, payload);
        let form = web::Form::<T>::from_request(req, payload);
        Box::pin(async move {
            // Who first: someone signed out is sent to sign in, whatever they posted.
            let user = user.await?;
            let form = form.await?.into_inner();
            if !secrets_equal(form.csrf_token(), user.session_csrf_token()) {
                return Err(AppError::Csrf.into());
            }
            Ok(CsrfForm { user, form })
        })
    }
}

/// A form read as its list of fields, for forms whose fields repeat (checkboxes).
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub struct FormFields(pub Vec<(String, String)>);

impl FormFields {
    /// The first value of a field, or empty.
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Every value of a field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl CsrfToken for FormFields {
    fn csrf_token(&self) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == "csrf_token")
            .map_or("", |(_, v)| v.as_str())
    }
}
