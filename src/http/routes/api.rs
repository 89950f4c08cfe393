//! The JSON API (`/api/v1`), for scripts and the CLI.
//!
//! Authentication: `Authorization: Bearer fbt_…` (an API token, limited to its scopes), or the
//! browser session cookie, in which case a `POST` must also carry the session's CSRF token in
//! `X-CSRF-Token` (a form on another site cannot set that header). Errors are JSON
//! `{"error": code, "message": text}` with the matching status; nothing here renders HTML.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;

use super::extract::current_session;
use super::{credentials::credential_process_json, origin};
use crate::auth::access::{record_denial, Denial, RoleRefused};
use crate::auth::api_tokens::{authenticate, has_scope};
use crate::auth::sessions::secrets_equal;
use crate::aws::assertion::SignInError;
use crate::aws::credentials::{credentials, CredentialsError};
use crate::aws::federation::console_url;
use crate::clock::now;
use crate::directory::Identity;
use crate::http::error::AppError;
use crate::http::state::AppState;

/// An API error: status, code and message, as JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header(("WWW-Authenticate", "Bearer realm=\"fedbroker\""));
        }
        res.json(serde_json::json!({"error": self.code, "message": self.message}))
    }
}

impl ApiError {
    /// A refused role says whom to ask (`admin.contact`), as the portal does.
    fn with_contact(mut self, contact: &str) -> ApiError {
        if self.status == StatusCode::FORBIDDEN && !contact.trim().is_empty() {
            self.message = format!("{}; to get it, ask {}", self.message, contact.trim());
        }
        self
    }
}

fn api_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let status = e.status_code();
        let (title, text) = e.page();
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::BAD_GATEWAY => "aws_refused",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "internal",
        };
        if let AppError::Internal(inner) = &e {
            tracing::error!(error = ?inner, "API request failed");
        }
        let message = if matches!(e, AppError::Internal(_)) {
            title.to_string()
        } else {
            text
        };
        api_error(status, code, message)
    }
}

impl From<CredentialsError> for ApiError {
    fn from(e: CredentialsError) -> Self {
        match e {
            CredentialsError::SignIn(SignInError::Refused(RoleRefused::NotGranted(role))) => {
                api_error(
                    StatusCode::FORBIDDEN,
                    Denial::RoleNotGranted.code(),
                    format!("`{role}` is not one of your roles; GET /api/v1/roles lists them"),
                )
            }
            CredentialsError::SignIn(SignInError::Refused(e @ RoleRefused::NoRoles)) => {
                api_error(StatusCode::FORBIDDEN, Denial::NoRoles.code(), e.to_string())
            }
            other => AppError::from(other).into(),
        }
    }
}

/// Who calls: the person, and the token's scopes (`None`: a browser session, every scope).
pub struct ApiCaller {
    pub identity: Identity,
    scopes: Option<crate::store::ApiTokenRecord>,
    /// Kept so that a refused scope is recorded with where the request came from.
    store: crate::store::Store,
    origin: crate::audit::Origin,
    path: String,
}

impl ApiCaller {
    /// Refuses (403 `missing_scope`) a token that lacks `scope`, and records the refusal.
    async fn require(&self, scope: &str) -> Result<(), ApiError> {
        match &self.scopes {
            Some(token) if !has_scope(token, scope) => {
                record_denial(
                    &self.store,
                    &self.identity.username,
                    Denial::MissingScope,
                    "",
                    &self.origin,
                    serde_json::json!({
                        "scope": scope, "token_id": token.id, "path": self.path,
                    }),
                )
                .await;
                Err(api_error(
                    StatusCode::FORBIDDEN,
                    Denial::MissingScope.code(),
                    format!("this token lacks the `{scope}` scope; create one that has it at /account/tokens"),
                ))
            }
            _ => Ok(()),
        }
    }
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| {
                api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "state missing",
                )
            })?;
            if let Some(header) = req.headers().get("authorization") {
                let header = header.to_str().unwrap_or("");
                return match authenticate(&state.store, header, now())
                    .await
                    .map_err(|e| ApiError::from(AppError::from(e)))?
                {
                    Ok((identity, token)) => {
                        // The groups of an LDAP/OIDC person date from their last sign-in: ask
                        // the source again before the token may act on them.
                        let origin = origin(&req, &state.settings);
                        let checked = crate::auth::token_recheck::token_holder(
                            &state.store,
                            &state.sources,
                            identity,
                            &origin,
                            now(),
                        )
                        .await
                        .map_err(|e| ApiError::from(AppError::from(e)))?;
                        match checked {
                            Ok(identity) => Ok(ApiCaller {
                                identity,
                                scopes: Some(token),
                                store: state.store.clone(),
                                origin,
                                path: req.path().to_string(),
                            }),
                            Err(refused) => Err(api_error(
                                if refused.is_unavailable() {
                                    StatusCode::SERVICE_UNAVAILABLE
                                } else {
                                    StatusCode::UNAUTHORIZED
                                },
                                refused.code(),
                                refused.to_string(),
                            )),
                        }
                    }
                    Err(rejected) => Err(api_error(
                        StatusCode::from_u16(rejected.status()).unwrap_or(StatusCode::UNAUTHORIZED),
                        rejected.code(),
                        rejected.to_string(),
                    )),
                };
            }
            let Some((session, identity)) = current_session(state, &req).await? else {
                return Err(api_error(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "send `Authorization: Bearer fbt_…` (create a token at /account/tokens) or sign in",
                ));
            };
            if req.method() != actix_web::http::Method::GET {
                let sent = req
                    .headers()
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !secrets_equal(sent, &session.csrf_token) {
                    return Err(api_error(
                        StatusCode::FORBIDDEN,
                        "csrf",
                        "with a session cookie, POST requests need the session's X-CSRF-Token header",
                    ));
                }
            }
            if identity.must_change_password {
                return Err(api_error(
                    StatusCode::FORBIDDEN,
                    "password_change_required",
                    "change your password at /account/password first",
                ));
            }
            Ok(ApiCaller {
                identity,
                scopes: None,
                store: state.store.clone(),
                origin: origin(&req, &state.settings),
                path: req.path().to_string(),
            })
        })
    }
}

/// `GET /api/v1/roles`
pub async fn get_roles(
    state: web::Data<AppState>,
    caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    caller.require("roles").await?;
    let evaluation = state
        .rules
        .evaluate(&state.store, &caller.identity.groups)
        .await
        .map_err(AppError::from)?;
    let aliases = state.store.list_accounts().await.map_err(AppError::from)?;
    let roles: Vec<serde_json::Value> = evaluation
        .granted
        .iter()
        .map(|g| {
            let account = g.pair.role.account();
            let alias = aliases.iter().find(|a| a.account_id == account);
            serde_json::json!({
                "role_arn": g.pair.role.as_str(),
                "provider_arn": g.pair.provider.as_str(),
                "account_id": account,
                "account_name": alias.map(|a| a.name.as_str()),
                "environment": alias.map(|a| a.environment.as_str()),
                "session_duration": g.duration.unwrap_or(state.profile.session_duration).secs(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "roles": roles })))
}

/// The body of the role-taking calls.
#[derive(Deserialize, Debug)]
pub struct RoleRequest {
    role: String,
}

/// `POST /api/v1/credentials`: `credential_process` JSON (`Version: 1`).
pub async fn post_credentials(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Json<RoleRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require("credentials").await?;
    let creds = credentials(
        state.aws(),
        &caller.identity,
        &body.role,
        &origin(&req, &state.settings),
    )
    .await
    .map_err(|e| ApiError::from(e).with_contact(&state.settings.admin.contact))?;
    Ok(HttpResponse::Ok().json(credential_process_json(&creds)))
}

/// `POST /api/v1/console-url`: `{"url": ...}`, a console sign-in URL valid 15 minutes.
pub async fn post_console_url(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Json<RoleRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require("console").await?;
    let url = console_url(
        state.aws(),
        &caller.identity,
        &body.role,
        None,
        &origin(&req, &state.settings),
    )
    .await
    .map_err(|e| ApiError::from(e).with_contact(&state.settings.admin.contact))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "url": url })))
}

/// JSON bodies that cannot be read get a JSON error too.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> actix_web::Error {
    api_error(
        StatusCode::BAD_REQUEST,
        "bad_json",
        format!("the body must be JSON like {{\"role\": \"arn:aws:iam::…:role/…\"}}: {err}"),
    )
    .into()
}
