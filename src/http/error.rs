//! `AppError`: where domain errors become HTTP answers.
//!
//! People see a short message saying what is wrong and what to do, plus the request id; the logs
//! get the whole cause chain under the same id. Nothing internal (SQL, paths, stack traces) is
//! ever put in a response body.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::directory::local::LocalError;
use crate::store::StoreError;

/// Every error a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid session: send the browser to sign in, then back to `next`.
    #[error("sign-in required")]
    NotSignedIn { next: String },
    /// The bootstrap password (or an admin reset) must be replaced before anything else.
    #[error("password change required")]
    MustChangePassword,
    /// Signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Missing or wrong CSRF token.
    #[error("the form's security token is missing or wrong")]
    Csrf,
    /// The request itself is wrong; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing at this address.
    #[error("not found")]
    NotFound,
    /// The change was based on something another person changed since; the message says what.
    #[error("{0}")]
    Conflict(String),
    /// A dependency (the database) is down; retrying later will help.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Every core is checking passwords; the client should retry in a second.
    #[error("busy")]
    Busy,
    /// Something outside fedbroker (AWS sign-in in every Region) is down; the message says what.
    #[error("{0}")]
    UpstreamDown(String),
    /// AWS answered, and refused; the message is AWS's, with what to do.
    #[error("{0}")]
    UpstreamRefused(String),
    /// A bug or an unexpected failure; details go to the log only.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(inner) => AppError::Unavailable(inner.to_string()),
            StoreError::Stale(why) => AppError::Conflict(format!(
                "{why}. Nothing of yours was saved: reload the page, check the current values and apply your change again."
            )),
            StoreError::NotFound(what) => AppError::BadRequest(format!(
                "{what} does not exist (any more). Reload the list and try again."
            )),
            other => AppError::Internal(other.into()),
        }
    }
}

/// A refused role is a refusal of access, answered like every other: 403.
impl From<crate::auth::access::RoleRefused> for AppError {
    fn from(e: crate::auth::access::RoleRefused) -> Self {
        AppError::Forbidden(e.to_string())
    }
}

impl From<crate::aws::assertion::SignInError> for AppError {
    fn from(e: crate::aws::assertion::SignInError) -> Self {
        use crate::aws::assertion::SignInError;
        use crate::aws::regions::RegionError;
        match e {
            SignInError::Internal(e) => AppError::Internal(e),
            SignInError::Store(e) | SignInError::Region(RegionError::Store(e)) => e.into(),
            // A refused role is a refusal of access, answered like every other: 403.
            SignInError::Refused(e) => e.into(),
            SignInError::Region(e @ RegionError::NoneAvailable) => AppError::UpstreamDown(format!(
                "{e}. An administrator can see the state of every Region at /admin/regions."
            )),
            e => AppError::BadRequest(e.to_string()),
        }
    }
}

impl From<crate::aws::credentials::CredentialsError> for AppError {
    fn from(e: crate::aws::credentials::CredentialsError) -> Self {
        use crate::aws::credentials::CredentialsError;
        use crate::aws::sts::StsError;
        match e {
            CredentialsError::SignIn(e) => e.into(),
            CredentialsError::Sts(e @ StsError::Refused { .. }) => AppError::UpstreamRefused(format!(
                "{e}. Check that the role exists, trusts this broker's SAML provider (see the IAM trust \
                 policy page) and allows the requested duration."
            )),
            CredentialsError::Sts(e @ StsError::Unavailable { .. }) => AppError::UpstreamDown(format!(
                "{e}. Try again in a minute, or use the Console button, which signs in through any \
                 healthy Region."
            )),
            e @ CredentialsError::SessionShape { .. } => AppError::UpstreamRefused(format!("{e}.")),
            CredentialsError::Federation(why) => AppError::UpstreamDown(format!(
                "The AWS console federation endpoint failed ({why}). Use the Console button instead, \
                 which signs in with SAML through any healthy Region."
            )),
        }
    }
}

impl From<LocalError> for AppError {
    fn from(e: LocalError) -> Self {
        match e {
            LocalError::Store(s) => s.into(),
            LocalError::Busy => AppError::Busy,
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(anyhow::anyhow!("template rendering failed: {e}"))
    }
}

impl AppError {
    /// Title and explanation for the error page.
    pub fn page(&self) -> (&'static str, String) {
        match self {
            AppError::NotSignedIn { .. } | AppError::MustChangePassword => {
                ("Sign-in required", "Please sign in.".into())
            }
            AppError::Forbidden(why) => ("Access denied", why.clone()),
            AppError::Csrf => (
                "Form expired",
                "This form expired or was sent from another site. Go back, reload the page and try again."
                    .into(),
            ),
            AppError::BadRequest(why) => ("Bad request", why.clone()),
            AppError::NotFound => (
                "Page not found",
                "There is nothing at this address. Check the link, or start again from the portal."
                    .into(),
            ),
            AppError::Unavailable(_) => (
                "Temporarily unavailable",
                "fedbroker cannot reach its database right now. Try again in a minute; if it persists, \
                 tell your administrator and quote the reference below."
                    .into(),
            ),
            AppError::Busy => (
                "Busy",
                "fedbroker is busy checking other passwords. Try again in a moment.".into(),
            ),
            AppError::UpstreamDown(why) => ("AWS sign-in unavailable", why.clone()),
            AppError::Conflict(why) => ("Changed by someone else", why.clone()),
            AppError::UpstreamRefused(why) => ("AWS refused the request", why.clone()),
            AppError::Internal(_) => (
                "Something went wrong",
                "fedbroker hit an unexpected error. Nothing was changed. Tell your administrator and \
                 quote the reference below."
                    .into(),
            ),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotSignedIn { .. } | AppError::MustChangePassword => StatusCode::SEE_OTHER,
            AppError::Forbidden(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::UpstreamRefused(_) => StatusCode::BAD_GATEWAY,
            AppError::Unavailable(_) | AppError::UpstreamDown(_) | AppError::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A bare response; `middleware::response_policy` renders the page around it, because only
    /// there the request id is known.
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        match self {
            AppError::NotSignedIn { next } => {
                let location = if next == "/" || next.is_empty() {
                    "/login".to_string()
                } else {
                    format!(
                        "/login?{}",
                        serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default()
                    )
                };
                res.insert_header((header::LOCATION, location));
            }
            AppError::MustChangePassword => {
                res.insert_header((header::LOCATION, "/account/password"));
            }
            AppError::Busy => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        res.finish()
    }
}
