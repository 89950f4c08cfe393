//! `/oauth/*`: the command-line client's sign-in (see `auth::cli_sign_in`): the consent page,
//! the page that shows a code to paste back, and the token endpoint.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::{render, Nav, SignedIn};
use crate::auth::cli_sign_in::{
    check_authorize, issue_code, redeem, refresh, AuthorizeParams, TokenError, CLIENT_ID,
};
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::middleware::CSP;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::state::AppState;

#[derive(Template)]
#[template(path = "account/cli_consent.html")]
struct ConsentPage {
    nav: Option<Nav>,
    params: AuthorizeParams,
    device: String,
    lifetime: String,
    paste: bool,
}

/// Hours and minutes, for the consent page.
fn duration_text(secs: i64) -> String {
    match (secs / 3600, secs % 3600 / 60) {
        (0, m) => format!("{m} minutes"),
        (h, 0) => format!("{h} hours"),
        (h, m) => format!("{h} hours {m} minutes"),
    }
}

/// The longest grant: a person's browser session could not last longer either.
fn max_lifetime(state: &AppState) -> i64 {
    state.settings.session.absolute_timeout_secs
}

/// `GET /oauth/authorize`: who is signing in where, for how long; approve or deny.
pub async fn get_authorize(
    state: web::Data<AppState>,
    user: SignedIn,
    query: web::Query<AuthorizeParams>,
) -> Result<HttpResponse, AppError> {
    let params = query.into_inner();
    let checked = check_authorize(&params, &state.url, max_lifetime(&state))
        .map_err(|e| AppError::BadRequest(format!("{e}.")))?;
    let mut res = render(&ConsentPage {
        nav: Some(user.nav()),
        device: checked.device,
        lifetime: duration_text(checked.lifetime_secs),
        paste: !checked.redirect_uri.starts_with("http://"),
        params,
    })?;
    // The approval is a form whose answer redirects to the client's loopback address, and
    // browsers hold redirects after a form post to `form-action`: widen it for this page, to
    // that one checked origin only.
    let origin = url::Url::parse(&checked.redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let csp = CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    );
    if let Ok(value) = header::HeaderValue::from_str(&csp) {
        res.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    Ok(res)
}

/// The consent form: the request again (checked again), and the decision.
#[derive(Debug, serde::Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    decision: String,
    #[serde(flatten)]
    params: AuthorizeParams,
}

impl CsrfToken for ConsentForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /oauth/authorize`: sends the browser back to the client with a code (or a refusal).
pub async fn post_authorize(
    state: web::Data<AppState>,
    CsrfForm { user, form }: CsrfForm<ConsentForm>,
) -> Result<HttpResponse, AppError> {
    let checked = check_authorize(&form.params, &state.url, max_lifetime(&state))
        .map_err(|e| AppError::BadRequest(format!("{e}.")))?;
    let mut back = url::Url::parse(&checked.redirect_uri)
        .map_err(|e| AppError::BadRequest(format!("The return address is not valid: {e}.")))?;
    if form.decision == "approve" {
        let code = issue_code(&state.store, user.identity.user_id, &checked, now()).await?;
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &checked.state);
    } else {
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", &checked.state);
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, back.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

#[derive(Template)]
#[template(path = "account/cli_code.html")]
struct CodePage {
    nav: Option<Nav>,
    code: String,
    error: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct CodeQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    error: String,
}

/// `GET /oauth/code`: the code to paste into `fedbroker-cli login --no-browser`.
pub async fn get_code(
    user: SignedIn,
    query: web::Query<CodeQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let mut res = render(&CodePage {
        nav: Some(user.nav()),
        code: q.code,
        error: q.error,
    })?;
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

/// The token request (RFC 6749 §4.1.3 and §6), form-encoded.
#[derive(Debug, Default, serde::Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    code_verifier: String,
    #[serde(default)]
    refresh_token: String,
}

/// `POST /oauth/token`: a public client proves itself with the PKCE verifier (for a code) or
/// the refresh token; no browser cookie is read, so there is nothing to forge cross-site.
pub async fn post_token(state: web::Data<AppState>, form: web::Form<TokenRequest>) -> HttpResponse {
    let t = form.into_inner();
    let result = if t.client_id != CLIENT_ID {
        Err(TokenError::InvalidRequest(format!(
            "client_id must be `{CLIENT_ID}`"
        )))
    } else {
        match t.grant_type.as_str() {
            "authorization_code" => {
                redeem(
                    &state.store,
                    &t.code,
                    &t.redirect_uri,
                    &t.code_verifier,
                    now(),
                )
                .await
            }
            "refresh_token" => refresh(&state.store, &t.refresh_token, now()).await,
            other => Err(TokenError::InvalidRequest(format!(
                "grant_type `{other}` is not offered; use authorization_code or refresh_token"
            ))),
        }
    };
    match result {
        Ok(tokens) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(tokens),
        Err(TokenError::Store(e)) => {
            tracing::error!(error = %e, "token request failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": "the broker's database does not answer; try again shortly",
            }))
        }
        Err(e) => HttpResponse::BadRequest()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({"error": e.code(), "error_description": e.to_string()})),
    }
}
