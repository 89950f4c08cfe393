//! Extractors that authorise a request before a handler runs.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use super::Nav;
use crate::auth::access::{record_denial, Denial};
use crate::auth::sessions::ActiveSession;
use crate::clock::now;
use crate::directory::admin::admin_origin;
use crate::directory::local::identity_of;
use crate::directory::Identity;
use crate::http::error::AppError;
use crate::http::state::{AppState, SESSION_COOKIE};

/// A request from a signed-in user with a valid session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub identity: Identity,
    pub session: ActiveSession,
    pub is_admin: bool,
}

impl SignedIn {
    /// Header data for pages.
    pub fn nav(&self) -> Nav {
        Nav {
            username: self.identity.username.clone(),
            display_name: self.identity.display_name.clone(),
            is_admin: self.is_admin,
            csrf_token: self.session.csrf_token.clone(),
        }
    }
}

/// Paths a user who must change their password may still use.
const PASSWORD_CHANGE_PATHS: &[&str] = &["/account/password", "/logout"];

/// Resolves the session cookie of a request, `None` when there is no valid session.
pub async fn current_session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(ActiveSession, Identity)>, AppError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = state.sessions.resolve(cookie.value(), now()).await? else {
        return Ok(None);
    };
    match identity_of(&state.store, session.user_id).await? {
        Some(identity) => Ok(Some((session, identity))),
        None => Ok(None),
    }
}

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))?;
            let next = safe_return_path(
                &req.uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
            )
            .unwrap_or("/")
            .to_string();
            let Some((session, identity)) = current_session(state, &req).await? else {
                return Err(AppError::NotSignedIn { next });
            };
            if identity.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&req.path()) {
                return Err(AppError::MustChangePassword);
            }
            // Only a local grant, or a source's own `admin_group`, makes an admin; a group of
            // the same name sent by a directory or provider does not.
            let is_admin = admin_origin(
                &state.settings.admin.group,
                &state.settings.sources,
                &identity.memberships,
            )
            .is_some();
            Ok(SignedIn {
                identity,
                session,
                is_admin,
            })
        })
    }
}

/// A signed-in member of the admin group; everyone else gets the 403 page.
#[derive(Debug, Clone)]
pub struct AdminUser(pub SignedIn);

impl FromRequest for AdminUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        let req = req.clone();
        let group = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.admin.group.clone())
            .unwrap_or_default();
        Box::pin(async move {
            let user = signed_in.await?;
            if user.is_admin {
                Ok(AdminUser(user))
            } else {
                if let Some(state) = req.app_data::<web::Data<AppState>>() {
                    record_denial(
                        &state.store,
                        &user.identity.username,
                        Denial::NotAdmin,
                        "",
                        &super::origin(&req, &state.settings),
                        serde_json::json!({ "path": req.path(), "method": req.method().as_str() }),
                    )
                    .await;
                }
                Err(AppError::Forbidden(format!(
                    "The admin pages are for members of the local group `{group}`. Ask an \
                     administrator to add you if you need access."
                )))
            }
        })
    }
}

/// Accepts a return address only if it is a path on this site, so that `?next=` can never
/// send someone to another site (open redirect).
pub fn safe_return_path(candidate: &str) -> Option<&str> {
    let ok = candidate.starts_with('/')
        && !candidate.starts_with("//")
        && !candidate.contains('\\')
        && !candidate.chars().any(char::is_control)
        && candidate.len() <= 2048
        && !candidate.starts_with("/login")
        && !candidate.starts_with("/logout");
    ok.then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::safe_return_path;

    #[test]
    fn return_paths_stay_on_site() {
        assert_eq!(safe_return_path("/admin"), Some("/admin"));
        assert_eq!(safe_return_path("/?q=x"), Some("/?q=x"));
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil",
            "javascript:alert(1)",
            "/a\nb",
            "",
            "/login?next=//evil",
        ] {
            assert_eq!(safe_return_path(bad), None, "{bad:?}");
        }
    }
}
