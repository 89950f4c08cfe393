//! `/admin/test`: what a sign-in would give someone, and why, without signing anyone in.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::directory::Identity;
use crate::http::error::AppError;
use crate::http::routes::{render, AdminUser, Nav};
use crate::http::state::AppState;
use crate::rules::dry_run::RolePlan;
use crate::rules::{dry_run, identity_for_dry_run, DryRun, DryRunSubject};

struct GrantRow {
    role: String,
    provider: String,
    duration: String,
    relay_state: String,
    rule: String,
    group: String,
    also: String,
}

struct DenialRow {
    role: String,
    granted_by: String,
    denied_by: String,
}

struct SkipRow {
    rule: String,
    group: String,
    output: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "admin/test.html")]
struct TestPage {
    nav: Option<Nav>,
    username: String,
    groups_text: String,
    error: String,
    ran: bool,
    subject: String,
    groups: Vec<String>,
    granted: Vec<GrantRow>,
    denied: Vec<DenialRow>,
    skipped: Vec<SkipRow>,
    warnings: Vec<String>,
    notes: Vec<String>,
    broken: Vec<String>,
    preview_roles: String,
    assertion_xml: String,
    size: String,
    plans: Vec<RolePlan>,
}

/// `GET /admin/test?username=...&groups=...`
#[derive(Deserialize, Debug, Default)]
pub struct TestQuery {
    #[serde(default)]
    username: String,
    /// One group per line (or comma-separated).
    #[serde(default)]
    groups: String,
}

/// Splits pasted groups: one per line, or comma-separated on one line.
pub fn parse_groups(text: &str) -> Vec<String> {
    let sep = |c: char| c == '\n' || (c == ',' && !text.contains('\n'));
    text.split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn rows(run: &DryRun) -> (Vec<GrantRow>, Vec<DenialRow>, Vec<SkipRow>) {
    let e = &run.evaluation;
    let granted = e
        .granted
        .iter()
        .map(|g| GrantRow {
            role: g.pair.role.to_string(),
            provider: g.pair.provider.as_str().to_string(),
            duration: g
                .duration
                .map_or("default".into(), |d| format!("{} s", d.secs())),
            relay_state: g.relay_state.clone().unwrap_or_default(),
            rule: g.cause.rule.clone(),
            group: g.cause.group.clone(),
            also: g
                .also
                .iter()
                .map(|c| format!("{} ({})", c.rule, c.group))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let denied = e
        .denied
        .iter()
        .map(|d| DenialRow {
            role: d.role.clone(),
            granted_by: format!("{} ({})", d.granted_by.rule, d.granted_by.group),
            denied_by: format!("{} ({})", d.denied_by.rule, d.denied_by.group),
        })
        .collect();
    let skipped = e
        .skipped
        .iter()
        .map(|s| SkipRow {
            rule: s.cause.rule.clone(),
            group: s.cause.group.clone(),
            output: s.output.clone(),
            reason: s.reason.clone(),
        })
        .collect();
    (granted, denied, skipped)
}

/// `GET /admin/test`
pub async fn get_test(
    state: web::Data<AppState>,
    admin: AdminUser,
    query: web::Query<TestQuery>,
) -> Result<HttpResponse, AppError> {
    let mut page = TestPage {
        nav: Some(admin.0.nav()),
        username: query.username.clone(),
        groups_text: query.groups.clone(),
        error: String::new(),
        ran: false,
        subject: String::new(),
        groups: Vec::new(),
        granted: Vec::new(),
        denied: Vec::new(),
        skipped: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        broken: Vec::new(),
        preview_roles: String::new(),
        assertion_xml: String::new(),
        size: String::new(),
        plans: Vec::new(),
    };
    let groups = parse_groups(&query.groups);
    let subject = match (query.username.trim(), groups.is_empty()) {
        ("", true) => return render(&page),
        (name, true) => DryRunSubject::User(name.to_string()),
        (name, false) => DryRunSubject::Groups {
            username: name.to_string(),
            groups,
        },
    };
    let identity: Identity = match identity_for_dry_run(&state.store, subject).await? {
        Ok(identity) => identity,
        Err(message) => {
            page.error = message;
            return render(&page);
        }
    };
    let acs = state.regions.first_acs_url();
    let signer = state.keys.signer().await.ok();
    let run = dry_run(
        &state.store,
        &state.rules,
        &state.profile,
        &acs,
        &identity,
        signer.as_deref(),
    )
    .await?;
    let (granted, denied, skipped) = rows(&run);
    page.ran = true;
    page.subject = run.username.clone();
    page.groups = run.groups.clone();
    page.granted = granted;
    page.denied = denied;
    page.skipped = skipped;
    page.warnings = run.warnings.iter().map(ToString::to_string).collect();
    page.notes = run.notes.clone();
    page.broken = run
        .broken
        .iter()
        .map(|b| format!("{}: {}", b.rule, b.error))
        .collect();
    page.preview_roles = run.preview_roles.join(", ");
    page.plans = run.plans.clone();
    // Laid out one element per line for reading; the signed form is canonical, on one line.
    page.assertion_xml = run
        .assertion_xml
        .as_deref()
        .map(crate::saml::display::indented)
        .unwrap_or_default();
    page.size = run
        .signed_size
        .map(|n| {
            format!(
                "{n} of {} base64 characters",
                crate::domain::aws::MAX_SAML_RESPONSE_BASE64
            )
        })
        .unwrap_or_default();
    render(&page)
}
