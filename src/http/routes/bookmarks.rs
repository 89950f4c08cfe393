//! `GET /go/<account>/<role>`: a role's bookmarkable link (like IAM Identity Center's shortcut
//! links), with optional `?region=` and `?landing=` (a console page).
//!
//! How it stays safe against cross-site use:
//! - The GET signs nothing: it answers a page whose form posts to the console sign-in
//!   (`POST /saml/aws/sso`) with the session's CSRF token, so the sign-in itself is the same
//!   checked POST as the portal's Console button, and another site cannot forge it.
//! - The page submits that form by itself only when the browser says the person started the
//!   navigation outside any site (`Sec-Fetch-Site: none`: the address bar, a bookmark) and the
//!   link names no landing page. Browsers also say `none` for links opened from a mail or chat
//!   app and after redirects that began at a typed address (a short-link service), so such a
//!   link opens, by itself, at most the console home of a role the person already holds, like
//!   IAM Identity Center's shortcut links; a landing page of the sender's choosing (a
//!   CloudFormation quick-create page, say) always waits for the person's click. Every other
//!   navigation waits too: a link on another site, a browser that does not say, and
//!   `same-origin` ones, because the return from the sign-in page is same-origin whoever sent
//!   the person to sign in (`/login?next=/go/...` from another site). `frame-ancestors 'none'`
//!   keeps another site from hiding the Continue button in a frame.
//! - The role must be one the person holds now (else 403, recorded as `access.denied`); the
//!   landing page must be a console address of the role's partition (the rules' own check), and
//!   the Region one of the configured sign-in endpoints (checked by the sign-in).
//! - Signed out, the person signs in first and comes back to the link (`?next=` only takes
//!   paths on this site).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::portal::allow_federation_form_action;
use super::{Nav, SignedIn};
use crate::auth::access::{record_denial, Denial};
use crate::domain::aws::RoleArn;
use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::mapping::rule::check_console_url;
use crate::rules::role_list::bookmark_path;

#[derive(Template)]
#[template(path = "portal/bookmark.html")]
struct BookmarkPage {
    nav: Option<Nav>,
    role: String,
    role_name: String,
    account: String,
    alias: String,
    region: String,
    landing: String,
    /// Submit without a click: the person typed or bookmarked a link without a landing page.
    auto: bool,
}

/// `?region=&landing=`
#[derive(Deserialize, Debug, Default)]
pub struct BookmarkQuery {
    #[serde(default)]
    region: String,
    #[serde(default)]
    landing: String,
}

/// What the browser says started this navigation (`Sec-Fetch-Site`): one of the four values
/// the header defines, or empty when it says nothing (or something else, which is not kept).
fn fetch_site(req: &HttpRequest) -> &'static str {
    let said = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ["none", "same-origin", "same-site", "cross-site"]
        .into_iter()
        .find(|known| *known == said)
        .unwrap_or("")
}

/// Whether a path could be an account id and an IAM role's path and name: anything else is no
/// role, answered 404 without recording text another site chose.
fn plausible(account: &str, role_path: &str) -> bool {
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !role_path.is_empty()
        && role_path.len() <= 576
        && role_path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
}

/// `GET /go/{account}/{role:.*}`
pub async fn get_bookmark(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SignedIn,
    path: web::Path<(String, String)>,
    query: web::Query<BookmarkQuery>,
) -> Result<HttpResponse, AppError> {
    let (account, role_path) = path.into_inner();
    if !plausible(&account, &role_path) {
        return Err(AppError::NotFound);
    }
    let site = fetch_site(&req);
    let wanted = format!("/go/{account}/{role_path}");
    let evaluation = state
        .rules
        .evaluate(&state.store, &user.identity.groups)
        .await?;
    let Some(grant) = evaluation
        .granted
        .iter()
        .find(|g| bookmark_path(&g.pair.role) == wanted)
    else {
        record_denial(
            &state.store,
            &user.identity.username,
            Denial::RoleNotGranted,
            &format!("arn:aws:iam::{account}:role/{role_path}"),
            &super::origin(&req, &state.settings),
            serde_json::json!({ "via": "bookmark", "path": wanted, "fetch_site": site }),
        )
        .await;
        return Err(AppError::Forbidden(format!(
            "This link opens the role `{role_path}` in account {account}, which none of your \
             groups grants. Ask {} for access, or open the portal to see your roles.",
            state.settings.admin.contact
        )));
    };
    let role: &RoleArn = &grant.pair.role;
    let landing = query.landing.trim();
    if !landing.is_empty() {
        check_console_url(landing, role.partition()).map_err(AppError::BadRequest)?;
    }
    let alias = state
        .store
        .list_accounts()
        .await?
        .into_iter()
        .find(|a| a.account_id == role.account())
        .map(|a| a.name)
        .unwrap_or_default();
    let html = BookmarkPage {
        nav: Some(user.nav()),
        role: role.to_string(),
        role_name: role.name().to_string(),
        account: role.account().to_string(),
        alias,
        region: query.region.trim().to_string(),
        landing: landing.to_string(),
        auto: site == "none" && landing.is_empty(),
    }
    .render()?;
    let mut page = HttpResponse::build(StatusCode::OK)
        .content_type("text/html; charset=utf-8")
        // The link's address is not secret, but the next page's sign-in is: no referrer.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html);
    allow_federation_form_action(&state, &mut page);
    Ok(page)
}
