//! `/account/sessions` (everyone: their own sessions, end one or all others) and
//! `/admin/sessions` (admins: everyone's, filtered by user, end any). Thin: the listing, the
//! ending and the audit are in `auth::session_list`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::auth::session_list::{self, SessionView};
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::routes::admin::audit::short_agent;
use crate::http::routes::admin::when;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::routes::{origin, render, AdminUser, Nav, SignedIn};
use crate::http::state::AppState;

struct Row {
    handle: String,
    username: String,
    created: String,
    last_seen: String,
    address: String,
    agent: String,
    user_agent: String,
    current: bool,
}

fn rows(list: Vec<SessionView>) -> Vec<Row> {
    list.into_iter()
        .map(|s| Row {
            agent: short_agent(&s.user_agent),
            handle: s.handle,
            username: s.username,
            created: when(Some(s.created_at)),
            last_seen: when(Some(s.last_seen_at)),
            address: s.client_addr,
            user_agent: s.user_agent,
            current: s.current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    nav: Option<Nav>,
    /// The admin view (everyone's sessions) rather than the person's own.
    admin: bool,
    action: &'static str,
    user_filter: String,
    rows: Vec<Row>,
    /// The admin list stopped at its limit: the page says so.
    truncated: bool,
    limit: i64,
}

/// End a session (`action=end`, `session=<handle>`) or all but this one (`end-others`).
#[derive(Deserialize, Debug)]
pub struct SessionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    session: String,
    /// The admin list's filter, kept across the redirect.
    #[serde(default)]
    user: String,
}

impl CsrfToken for SessionForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `?user=` on the admin list.
#[derive(Deserialize, Debug, Default)]
pub struct SessionQuery {
    #[serde(default)]
    user: String,
}

fn see_other(to: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// `GET /account/sessions`
pub async fn get_own(state: web::Data<AppState>, user: SignedIn) -> Result<HttpResponse, AppError> {
    let list = session_list::own_sessions(
        &state.store,
        state.sessions.policy(),
        now(),
        user.session.user_id,
        &user.identity.username,
        &user.session.id_hash,
    )
    .await?;
    render(&SessionsPage {
        nav: Some(user.nav()),
        admin: false,
        action: "/account/sessions",
        user_filter: String::new(),
        truncated: false,
        limit: session_list::ADMIN_LIST_LIMIT,
        rows: rows(list),
    })
}

/// `POST /account/sessions`
pub async fn post_own(
    state: web::Data<AppState>,
    req: HttpRequest,
    CsrfForm { user, form }: CsrfForm<SessionForm>,
) -> Result<HttpResponse, AppError> {
    let origin = origin(&req, &state.settings);
    let name = user.identity.username.as_str();
    match form.action.as_str() {
        "end" => {
            let ended = session_list::end_session(
                &state.store,
                Some((user.session.user_id, name)),
                form.session.trim(),
                name,
                &origin,
            )
            .await?;
            if !ended {
                return Err(AppError::BadRequest(
                    "That session has ended already, or is not one of yours.".into(),
                ));
            }
        }
        "end-others" => {
            session_list::end_other_sessions(
                &state.store,
                user.session.user_id,
                name,
                &user.session.id_hash,
                &origin,
            )
            .await?;
        }
        other => {
            return Err(AppError::BadRequest(format!(
                "unknown action `{other}`: use end or end-others"
            )))
        }
    }
    Ok(see_other("/account/sessions".into()))
}

/// `GET /admin/sessions?user=`
pub async fn get_all(
    state: web::Data<AppState>,
    admin: AdminUser,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, AppError> {
    let filter = query.user.trim();
    let list = session_list::all_sessions(
        &state.store,
        state.sessions.policy(),
        now(),
        Some(filter).filter(|f| !f.is_empty()),
        &admin.0.session.id_hash,
    )
    .await?;
    render(&SessionsPage {
        nav: Some(admin.0.nav()),
        admin: true,
        action: "/admin/sessions",
        user_filter: filter.to_string(),
        truncated: list.len() as i64 > session_list::ADMIN_LIST_LIMIT,
        limit: session_list::ADMIN_LIST_LIMIT,
        rows: rows(list)
            .into_iter()
            .take(session_list::ADMIN_LIST_LIMIT as usize)
            .collect(),
    })
}

/// `POST /admin/sessions`: end anyone's session.
pub async fn post_all(
    state: web::Data<AppState>,
    req: HttpRequest,
    CsrfForm { user: admin, form }: CsrfForm<SessionForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    if form.action != "end" {
        return Err(AppError::BadRequest(format!(
            "unknown action `{}`: use end",
            form.action
        )));
    }
    let ended = session_list::end_session(
        &state.store,
        None,
        form.session.trim(),
        &admin.0.identity.username,
        &origin(&req, &state.settings),
    )
    .await?;
    if !ended {
        return Err(AppError::BadRequest(
            "That session has ended already.".into(),
        ));
    }
    let back = if form.user.trim().is_empty() {
        "/admin/sessions".to_string()
    } else {
        format!(
            "/admin/sessions?{}",
            serde_urlencoded::to_string([("user", form.user.trim())]).unwrap_or_default()
        )
    };
    Ok(see_other(back))
}
