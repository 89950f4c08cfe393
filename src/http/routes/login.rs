//! Sign-in and sign-out with the local directory.

use std::fmt;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session_cookie::{session_cookie, start_session};
use super::{safe_return_path, user_agent, Nav};
use crate::audit;
use crate::audit::Origin;
use crate::auth::sessions::{random_token, secrets_equal};
use crate::auth::signin::{sign_in_with_password, Outcome, PasswordAttempt};
use crate::clock::now;
use crate::directory::SignInFailure;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::state::{client_addr, AppState, LOGIN_CSRF_COOKIE};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf_token: String,
    next: String,
    username: String,
    error: Option<String>,
    nav: Option<Nav>,
    /// `(id, name)` of the password sources; a choice is shown when there are several.
    sources: Vec<(String, String)>,
    source: String,
    /// `(id, name)` of the OpenID Providers: a button each.
    /// (kind, id, name) of each upstream provider: a "Sign in with …" button to /login/<kind>/<id>.
    providers: Vec<(&'static str, String, String)>,
}

/// `?next=` on the login page.
#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// The sign-in form. Debug is written by hand so the password can never reach a log.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
    /// `local` or the id of an LDAP source.
    #[serde(default)]
    source: String,
}

impl fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// The cookie carrying the login form's CSRF token (double submit: the form must echo it).
fn login_csrf_cookie(token: &str) -> Cookie<'static> {
    Cookie::build(LOGIN_CSRF_COOKIE, token.to_string())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::hours(1))
        .finish()
}

/// What the form was filled with, to show it again.
pub struct Filled<'a> {
    pub next: &'a str,
    pub username: &'a str,
    pub source: &'a str,
}

pub fn login_page(
    state: &AppState,
    status: StatusCode,
    csrf_token: String,
    filled: &Filled<'_>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = LoginPage {
        csrf_token: csrf_token.clone(),
        next: filled.next.to_string(),
        username: filled.username.to_string(),
        error,
        nav: None,
        sources: state.sources.password_sources(),
        providers: state
            .sources
            .oidc
            .iter()
            .map(|p| ("oidc", p.settings.id.clone(), p.settings.name.clone()))
            .chain(
                state
                    .upstream_saml
                    .iter()
                    .map(|p| ("saml", p.settings.id.clone(), p.settings.name.clone())),
            )
            .collect(),
        source: filled.source.to_string(),
    };
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .cookie(login_csrf_cookie(&csrf_token))
        .body(page.render()?))
}

/// The login page with an error, after an upstream sign-in (OIDC, SAML) failed.
pub fn failure_page(
    state: &AppState,
    status: StatusCode,
    message: String,
) -> Result<HttpResponse, AppError> {
    let filled = Filled {
        next: "/",
        username: "",
        source: "local",
    };
    login_page(state, status, random_token(), &filled, Some(message))
}

/// `GET /login`: always shows the form, even to someone signed in, so that people can switch
/// accounts; signing in replaces whatever session the browser held.
pub async fn get_login(
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let next = query
        .next
        .as_deref()
        .and_then(safe_return_path)
        .unwrap_or("/");
    let filled = Filled {
        next,
        username: "",
        source: "local",
    };
    login_page(&state, StatusCode::OK, random_token(), &filled, None)
}

/// `POST /login`
pub async fn post_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let expected = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_string());
    match &expected {
        Some(token) if !form.csrf_token.is_empty() && secrets_equal(token, &form.csrf_token) => {}
        _ => return Err(AppError::Csrf),
    }
    let csrf = expected.unwrap_or_default();
    let next = safe_return_path(&form.next).unwrap_or("/").to_string();
    let addr = client_addr(&req, &state.settings);
    let agent = user_agent(&req);
    let at = now();
    let filled = Filled {
        next: &next,
        username: &form.username,
        source: &form.source,
    };
    let source = if form.source.is_empty() {
        "local".to_string()
    } else {
        form.source.clone()
    };
    let origin = Origin {
        addr: addr.clone(),
        user_agent: agent.clone(),
    };
    let audit = |ok: bool, reason: &'static str| {
        audit::signin(&state.store, &form.username, ok, &source, reason, &origin)
    };

    let attempt = PasswordAttempt {
        source: &source,
        username: &form.username,
        password: &form.password,
        addr: &addr,
    };
    let outcome =
        sign_in_with_password(&state.limiter, &state.store, &state.sources, attempt, at).await?;
    let (status, message, reason) = match outcome {
        Outcome::Limited { retry_after_secs } => {
            tracing::warn!(client = %addr, "sign-in refused by rate limit");
            audit(false, "rate limited").await;
            let mut res = login_page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                csrf,
                &filled,
                Some(limited_message(retry_after_secs)),
            )?;
            res.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(retry_after_secs),
            );
            return Ok(res);
        }
        Outcome::SignedIn(identity) => {
            let session = start_session(&state, &req, &identity, &source, &origin, at).await?;
            let location = if identity.must_change_password {
                "/account/password"
            } else {
                next.as_str()
            };
            let mut removed = login_csrf_cookie("");
            removed.make_removal();
            return Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location.to_string()))
                .cookie(session)
                .cookie(removed)
                .finish());
        }
        Outcome::Failed(SignInFailure::WrongCredentials) => (
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.".to_string(),
            "wrong username or password",
        ),
        Outcome::Failed(SignInFailure::EmptyPassword) => (
            StatusCode::BAD_REQUEST,
            "Enter your password.".to_string(),
            "empty password",
        ),
        Outcome::Failed(SignInFailure::Disabled) => (
            StatusCode::FORBIDDEN,
            "This account is disabled. Ask an administrator to enable it.".to_string(),
            "account disabled",
        ),
        Outcome::Failed(SignInFailure::Busy) => {
            audit(false, "broker busy").await;
            let mut res = login_page(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                csrf,
                &filled,
                Some(
                    "fedbroker is busy checking other sign-ins. Try again in a moment.".to_string(),
                ),
            )?;
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(1));
            return Ok(res);
        }
        Outcome::Failed(SignInFailure::SourceDown(name)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "The directory “{name}” cannot be reached right now, so fedbroker cannot check your \
                 password. Try again in a minute, or sign in through another source."
            ),
            "directory unreachable",
        ),
        Outcome::Failed(SignInFailure::UsernameTaken { username, owner }) => (
            StatusCode::FORBIDDEN,
            format!(
                "The username `{username}` already belongs to another account (from `{owner}`), so \
                 fedbroker will not merge them. Ask an administrator."
            ),
            "username belongs to another source",
        ),
        Outcome::Failed(SignInFailure::UnusableUsername(why)) => (
            StatusCode::FORBIDDEN,
            format!("You cannot sign in with this account: {why}."),
            "unusable username",
        ),
        Outcome::Failed(SignInFailure::UnknownSource(id)) => (
            StatusCode::BAD_REQUEST,
            format!("`{id}` is not a sign-in source here; choose one from the list."),
            "unknown source",
        ),
        Outcome::Failed(SignInFailure::Store(e)) => return Err(e.into()),
        Outcome::Failed(SignInFailure::Local(e)) => return Err(e.into()),
    };
    tracing::info!(client = %addr, source = %source, reason, "sign-in failed");
    audit(false, reason).await;
    login_page(&state, status, csrf, &filled, Some(message))
}

/// What a person refused by the limiter is told: how long to wait, and that an administrator
/// can help when the wait is long.
fn limited_message(retry_after_secs: i64) -> String {
    if retry_after_secs < 60 {
        format!(
            "Too many failed sign-in attempts for this account. Wait {retry_after_secs} \
             second{} and try again.",
            if retry_after_secs == 1 { "" } else { "s" }
        )
    } else {
        let minutes = (retry_after_secs + 59) / 60;
        format!(
            "Too many failed sign-in attempts for this account or from your network. \
             Wait {minutes} minute{} and try again, or ask an administrator to reset your \
             password.",
            if minutes == 1 { "" } else { "s" }
        )
    }
}

/// The sign-out form.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

impl CsrfToken for LogoutForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /logout`: ends the session on the server, not just in the browser.
pub async fn post_logout(
    state: web::Data<AppState>,
    CsrfForm { user, .. }: CsrfForm<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    state.sessions.revoke(&user.session).await?;
    tracing::info!(user = %user.identity.username, "signed out");
    let mut removed = session_cookie("");
    removed.make_removal();
    let next = super::saml_sp::after_logout(&state, &user.session.id_hash).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(removed)
        .finish())
}
