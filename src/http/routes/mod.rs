//! HTTP handlers: thin wrappers that authorise, parse, make one domain call and render.

mod account;
pub mod admin;
mod api;
mod bookmarks;
mod credentials;
pub mod csrf;
mod extract;
pub(crate) mod health;
mod login;
mod oauth;
mod oidc;
mod portal;
mod saml;
mod saml_sp;
mod session_cookie;
pub mod sessions;
mod static_files;
mod tokens;

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::http::error::AppError;

pub use extract::{safe_return_path, AdminUser, SignedIn};

/// What the page header needs to know about the signed-in user.
#[derive(Debug, Clone)]
pub struct Nav {
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub csrf_token: String,
}

/// The request's User-Agent (for sessions and the audit log), cut to a sane length.
pub fn user_agent(req: &actix_web::HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(256)
        .collect()
}

/// Where a request came from, for the audit log.
pub fn origin(
    req: &actix_web::HttpRequest,
    settings: &crate::config::Settings,
) -> crate::audit::Origin {
    crate::audit::Origin {
        addr: crate::http::state::client_addr(req, settings),
        user_agent: user_agent(req),
    }
}

/// Renders a template as an HTML page.
pub fn render<T: Template>(page: &T) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// The route table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::get_healthz))
        .route("/readyz", web::get().to(health::get_readyz))
        .route("/metrics", web::get().to(health::get_metrics))
        .route("/static/{file}", web::get().to(static_files::get_static))
        .route("/login", web::get().to(login::get_login))
        .route("/login", web::post().to(login::post_login))
        .route("/logout", web::post().to(login::post_logout))
        .route("/login/oidc/{id}", web::get().to(oidc::get_start))
        .route(
            "/login/oidc/{id}/callback",
            web::get().to(oidc::get_callback),
        )
        .route("/login/saml/{id}", web::get().to(saml_sp::get_start))
        .route("/saml/sp/{id}/acs", web::post().to(saml_sp::post_acs))
        .route(
            "/saml/sp/{id}/metadata",
            web::get().to(saml_sp::get_metadata),
        )
        .route("/saml/sp/{id}/slo", web::get().to(saml_sp::get_slo))
        .route("/", web::get().to(portal::get_portal))
        .route("/portal/favourites", web::post().to(portal::post_favourite))
        .route(
            "/go/{account}/{role:.*}",
            web::get().to(bookmarks::get_bookmark),
        )
        .route(
            "/credentials",
            web::post().to(credentials::post_credentials),
        )
        .route(
            "/console/federation",
            web::post().to(credentials::post_federation),
        )
        .route("/account/password", web::get().to(account::get_password))
        .route("/account/password", web::post().to(account::post_password))
        .route("/account/sessions", web::get().to(sessions::get_own))
        .route("/account/sessions", web::post().to(sessions::post_own))
        .route("/admin/sessions", web::get().to(sessions::get_all))
        .route("/admin/sessions", web::post().to(sessions::post_all))
        .route("/account/tokens", web::get().to(tokens::get_tokens))
        .route("/account/tokens", web::post().to(tokens::post_tokens))
        .route(
            "/account/tokens/{id}/revoke",
            web::post().to(tokens::post_revoke),
        )
        .route(
            "/account/cli-sign-ins/{id}/revoke",
            web::post().to(tokens::post_revoke_cli),
        )
        .route("/oauth/authorize", web::get().to(oauth::get_authorize))
        .route("/oauth/authorize", web::post().to(oauth::post_authorize))
        .route("/oauth/code", web::get().to(oauth::get_code))
        .route("/oauth/token", web::post().to(oauth::post_token))
        .service(
            web::scope("/api/v1")
                .app_data(
                    web::JsonConfig::default()
                        .limit(16 * 1024)
                        .error_handler(|err, _| api::json_error(err)),
                )
                .route("/roles", web::get().to(api::get_roles))
                .route("/credentials", web::post().to(api::post_credentials))
                .route("/console-url", web::post().to(api::post_console_url)),
        )
        .route("/admin", web::get().to(admin::get_admin))
        .route("/admin/users", web::get().to(admin::users::get_users))
        .route("/admin/users", web::post().to(admin::users::post_users))
        .route("/admin/groups", web::get().to(admin::groups::get_groups))
        .route("/admin/groups", web::post().to(admin::groups::post_groups))
        .route("/admin/tokens", web::get().to(admin::tokens::get_tokens))
        .route("/admin/tokens", web::post().to(admin::tokens::post_tokens))
        .route("/admin/keys", web::get().to(admin::keys::get_keys))
        .route("/admin/sources", web::get().to(admin::sources::get_sources))
        .route("/admin/keys", web::post().to(admin::keys::post_keys))
        .route("/admin/regions", web::get().to(admin::regions::get_regions))
        .route(
            "/admin/regions",
            web::post().to(admin::regions::post_regions),
        )
        .route(
            "/admin/trust-policy",
            web::get().to(admin::trust::get_trust),
        )
        .route("/admin/rules", web::get().to(admin::rules::get_rules))
        .route(
            "/admin/rules/new",
            web::get().to(admin::rules::get_new_rule),
        )
        .route(
            "/admin/rules/new",
            web::post().to(admin::rules::post_new_rule),
        )
        .route("/admin/rules/{id}", web::get().to(admin::rules::get_rule))
        .route("/admin/rules/{id}", web::post().to(admin::rules::post_rule))
        .route(
            "/admin/rules/{id}/action",
            web::post().to(admin::rules::post_rule_action),
        )
        .route(
            "/admin/accounts",
            web::get().to(admin::accounts::get_accounts),
        )
        .route(
            "/admin/accounts",
            web::post().to(admin::accounts::post_accounts),
        )
        .route(
            "/admin/encryption",
            web::get().to(admin::encryption::get_encryption),
        )
        .route(
            "/admin/encryption",
            web::post().to(admin::encryption::post_encryption),
        )
        .route("/admin/test", web::get().to(admin::dryrun::get_test))
        .route("/admin/audit", web::get().to(admin::audit::get_audit))
        .route(
            "/admin/audit/export",
            web::get().to(admin::audit::get_export),
        )
        .route("/saml/metadata", web::get().to(saml::get_metadata))
        .route("/saml/sso", web::get().to(saml::get_sso))
        .route("/saml/aws/sso", web::post().to(saml::post_console));
}

/// The answer for any address that has no route.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
