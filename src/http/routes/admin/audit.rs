//! `/admin/audit`: the audit log, filtered, and exported as CSV or JSON Lines.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::audit::{csv_line, json_line, kind, rfc3339, CSV_HEADER};
use crate::http::error::AppError;
use crate::http::routes::{render, AdminUser, Nav};
use crate::http::state::AppState;
use crate::store::{AuditFilter, AuditRecord};

/// Events per page (newest first; "Older" pages on by id); exports go further.
const PAGE_LIMIT: i64 = 100;
const EXPORT_LIMIT: i64 = 100_000;

/// The filter form (`GET` parameters).
#[derive(Deserialize, Debug, Default, Clone)]
pub struct AuditQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    account: String,
    #[serde(default, rename = "type")]
    event_type: String,
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (UTC), inclusive.
    #[serde(default)]
    since: String,
    /// The same, exclusive; a bare date means the end of that day.
    #[serde(default)]
    until: String,
    #[serde(default)]
    format: String,
    /// Keyset paging: show events older than this id.
    #[serde(default)]
    before: Option<i64>,
}

fn parse_time(raw: &str, end_of_day: bool) -> Result<Option<i64>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
        return Ok(day.map(|t| if end_of_day { t + 86_400 } else { t }));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, format) {
            return Ok(Some(t.and_utc().timestamp()));
        }
    }
    Err(AppError::BadRequest(format!(
        "`{raw}` is not a time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)."
    )))
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, AppError> {
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(AuditFilter {
            user: text(&self.user),
            role_arn: text(&self.role),
            account_id: text(&self.account),
            event_type: text(&self.event_type),
            since: parse_time(&self.since, false)?,
            until: parse_time(&self.until, true)?,
            before_id: self.before,
        })
    }

    /// The filter as query parameters, plus `extra`.
    fn filter_query(&self, extra: Option<(&str, &str)>) -> String {
        let mut pairs = vec![
            ("user", self.user.as_str()),
            ("role", self.role.as_str()),
            ("account", self.account.as_str()),
            ("type", self.event_type.as_str()),
            ("since", self.since.as_str()),
            ("until", self.until.as_str()),
        ];
        pairs.extend(extra);
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// The page of events older than `before`, with the same filter.
    fn older_query(&self, before: i64) -> String {
        self.filter_query(Some(("before", &before.to_string())))
    }

    /// Every event of the filter (an export starts from the newest, whatever page is shown).
    fn export_query(&self, format: &str) -> String {
        self.filter_query(Some(("format", format)))
    }
}

struct Row {
    at: String,
    event_type: String,
    actor: String,
    subject: String,
    role_arn: String,
    outcome: String,
    address: String,
    /// The client, shortened (`Chrome 131`); the whole user agent is `user_agent`.
    agent: String,
    user_agent: String,
    /// The first characters of the details, shown on the row; the whole JSON expands.
    summary: String,
    details: String,
}

/// A user agent in a few words: the browser or tool and its major version.
pub fn short_agent(ua: &str) -> String {
    for (token, name) in [
        ("Edg/", "Edge"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Firefox/", "Firefox"),
        ("Version/", "Safari"),
    ] {
        if let Some(rest) = ua.split(token).nth(1) {
            let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
            return format!("{name} {major}").trim().to_string();
        }
    }
    let first = ua.split_whitespace().next().unwrap_or("");
    let short: String = first.chars().take(32).collect();
    if short.len() < first.len() {
        format!("{short}…")
    } else {
        short
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    query: AuditQuery,
    types: Vec<&'static str>,
    rows: Vec<Row>,
    /// The next page's link, when there may be older events.
    older_link: String,
    /// The newest page with this filter, when this is an older one.
    newest_link: String,
    csv_link: String,
    jsonl_link: String,
    retention_days: i64,
}

fn row(e: AuditRecord) -> Row {
    let summary: String = e.details.chars().take(40).collect();
    let summary = if summary.len() < e.details.len() {
        format!("{summary}…")
    } else {
        summary
    };
    Row {
        at: rfc3339(e.at),
        event_type: e.event_type,
        actor: e.actor,
        subject: e.subject,
        role_arn: e.role_arn,
        outcome: e.outcome,
        address: e.source_addr,
        agent: short_agent(&e.user_agent),
        user_agent: e.user_agent,
        summary,
        details: e.details,
    }
}

/// `GET /admin/audit`
pub async fn get_audit(
    state: web::Data<AppState>,
    admin: AdminUser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    // One more than a page: an "Older" link only when there is an older event.
    let mut events = state
        .store
        .audit_events(&query.filter()?, PAGE_LIMIT + 1)
        .await?;
    let more = events.len() as i64 > PAGE_LIMIT;
    events.truncate(PAGE_LIMIT as usize);
    let older_link = match events.last() {
        Some(last) if more => format!("/admin/audit?{}", query.older_query(last.id)),
        _ => String::new(),
    };
    render(&AuditPage {
        nav: Some(admin.0.nav()),
        older_link,
        newest_link: if query.before.is_some() {
            format!("/admin/audit?{}", query.filter_query(None))
        } else {
            String::new()
        },
        rows: events.into_iter().map(row).collect(),
        csv_link: format!("/admin/audit/export?{}", query.export_query("csv")),
        jsonl_link: format!("/admin/audit/export?{}", query.export_query("jsonl")),
        types: kind::ALL.to_vec(),
        retention_days: state.settings.audit.retention_days,
        query,
    })
}

/// `GET /admin/audit/export?format=csv|jsonl&...`
pub async fn get_export(
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let events = state
        .store
        .audit_events(&query.filter()?, EXPORT_LIMIT)
        .await?;
    let (body, content_type, ext) = match query.format.as_str() {
        "csv" => {
            let mut out = String::from(CSV_HEADER);
            out.push_str("\r\n");
            for e in &events {
                out.push_str(&csv_line(e));
                out.push_str("\r\n");
            }
            (out, "text/csv; charset=utf-8", "csv")
        }
        "jsonl" => {
            let mut out = String::new();
            for e in &events {
                out.push_str(&json_line(e));
                out.push('\n');
            }
            (out, "application/x-ndjson", "jsonl")
        }
        other => {
            return Err(AppError::BadRequest(format!(
                "Unknown export format `{other}`: use csv or jsonl."
            )))
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"fedbroker-audit.{ext}\""),
        ))
        .body(body))
}
