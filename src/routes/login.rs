//! Sign-in and sign-out with the local directory.

use std::fmt;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{safe_return_path, user_agent, Nav, SignedIn};
use crate::audit::{self, NewAuditEvent};
use crate::directory::local::{authenticate, LocalError};
use crate::error::AppError;
use crate::ratelimit::Verdict;
use crate::sessions::{random_token, secrets_equal};
use crate::startup::{client_addr, now, AppState, LOGIN_CSRF_COOKIE, SESSION_COOKIE};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf_token: String,
    next: String,
    username: String,
    error: Option<String>,
    nav: Option<Nav>,
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

fn login_page(
    status: StatusCode,
    csrf_token: String,
    next: &str,
    username: &str,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = LoginPage {
        csrf_token: csrf_token.clone(),
        next: next.to_string(),
        username: username.to_string(),
        error,
        nav: None,
    };
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .cookie(login_csrf_cookie(&csrf_token))
        .body(page.render()?))
}

/// `GET /login`: always shows the form, even to someone signed in, so that people can switch
/// accounts; signing in replaces whatever session the browser held.
pub async fn get_login(query: web::Query<LoginQuery>) -> Result<HttpResponse, AppError> {
    let next = query
        .next
        .as_deref()
        .and_then(safe_return_path)
        .unwrap_or("/");
    login_page(StatusCode::OK, random_token(), next, "", None)
}

/// `POST /login`
pub async fn post_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
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
    let audit = |ok: bool, reason: &'static str| {
        let event = NewAuditEvent {
            event_type: audit::kind::SIGNIN.into(),
            actor: String::new(),
            // What was typed, cut short: a SIEM needs it to see guessing, nothing more.
            subject: form.username.chars().take(64).collect(),
            outcome: audit::outcome(ok),
            source_addr: addr.clone(),
            user_agent: agent.clone(),
            details: serde_json::json!({"source": "local", "reason": reason}),
            ..NewAuditEvent::default()
        };
        let store = state.store.clone();
        async move { audit::record(&store, event).await }
    };

    if let Verdict::Limited { retry_after_secs } =
        state.limiter.check(&form.username, &addr, at).await?
    {
        let minutes = (retry_after_secs + 59) / 60;
        tracing::warn!(client = %addr, "sign-in refused by rate limit");
        audit(false, "rate limited").await;
        let mut res = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            csrf,
            &next,
            &form.username,
            Some(format!(
                "Too many failed sign-in attempts for this account or from your network. \
                 Wait {minutes} minute{} and try again, or ask an administrator to reset your password.",
                if minutes == 1 { "" } else { "s" }
            )),
        )?;
        if let Ok(v) = header::HeaderValue::from_str(&retry_after_secs.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(res);
    }

    match authenticate(&state.store, &form.username, &form.password).await {
        Ok(identity) => {
            state.limiter.record_success(&form.username).await?;
            let previous = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
            let session = state
                .sessions
                .create(identity.user_id, &addr, &agent, previous.as_deref(), at)
                .await?;
            tracing::info!(user = %identity.username, client = %addr, "signed in");
            audit(true, "").await;
            let location = if identity.must_change_password {
                "/account/password"
            } else {
                next.as_str()
            };
            let mut removed = login_csrf_cookie("");
            removed.make_removal();
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location.to_string()))
                .cookie(session_cookie(&session.cookie_value))
                .cookie(removed)
                .finish())
        }
        Err(LocalError::InvalidCredentials) => {
            state
                .limiter
                .record_failure(&form.username, &addr, at)
                .await?;
            tracing::info!(client = %addr, "sign-in failed: wrong username or password");
            audit(false, "wrong username or password").await;
            login_page(
                StatusCode::UNAUTHORIZED,
                csrf,
                &next,
                &form.username,
                Some("Wrong username or password.".into()),
            )
        }
        Err(LocalError::Disabled) => {
            state
                .limiter
                .record_failure(&form.username, &addr, at)
                .await?;
            tracing::info!(client = %addr, "sign-in refused: account disabled");
            audit(false, "account disabled").await;
            login_page(
                StatusCode::FORBIDDEN,
                csrf,
                &next,
                &form.username,
                Some("This account is disabled. Ask an administrator to enable it.".into()),
            )
        }
        Err(other) => Err(other.into()),
    }
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

/// The sign-out form.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /logout`: ends the session on the server, not just in the browser.
pub async fn post_logout(
    state: web::Data<AppState>,
    user: SignedIn,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    user.check_csrf(&form.csrf_token)?;
    state.sessions.revoke(&user.session).await?;
    tracing::info!(user = %user.identity.username, "signed out");
    let mut removed = session_cookie("");
    removed.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .cookie(removed)
        .finish())
}
