//! `/admin/rules`: list, create, edit, reorder, enable/disable and delete mapping rules.
//!
//! Edits carry the version the admin loaded. When someone else saved in between, the form comes
//! back with the admin's own values untouched, the saved values beside them and a 409: nothing
//! is overwritten silently and nothing typed is lost.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::rule_form::{Errors, RuleForm};
use super::when;
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::routes::{AdminUser, Nav};
use crate::http::state::AppState;
use crate::mapping::{FieldError, RuleSpec, PRESETS};
use crate::store::{Change, HistoryRecord, RuleRecord, StoreError};

struct RuleRow {
    id: i64,
    position: usize,
    name: String,
    description: String,
    enabled: bool,
    effect: &'static str,
    pattern: String,
    role: String,
    extras: String,
    version: i64,
    updated: String,
}

/// A history row for admin pages.
pub struct HistoryRow {
    pub when: String,
    pub actor: String,
    pub what: String,
    pub action: String,
    pub before: String,
    pub after: String,
}

impl From<HistoryRecord> for HistoryRow {
    fn from(h: HistoryRecord) -> Self {
        HistoryRow {
            when: when(Some(h.at)),
            actor: h.actor,
            what: format!("{} {}", h.entity, h.entity_key),
            action: h.action,
            before: h.before_json.unwrap_or_default(),
            after: h.after_json.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/rules.html")]
struct RulesPage {
    nav: Option<Nav>,
    rules: Vec<RuleRow>,
    history: Vec<HistoryRow>,
    broken: Vec<String>,
    active: usize,
}

fn extras(r: &RuleRecord) -> String {
    let mut parts = Vec::new();
    if r.case_sensitive {
        parts.push("case-sensitive".to_string());
    }
    if let Some(p) = &r.provider_template {
        parts.push(format!("provider {p}"));
    }
    if let Some(d) = r.session_duration {
        parts.push(format!("{d} s"));
    }
    if let Some(l) = &r.relay_state {
        parts.push(format!("lands on {l}"));
    }
    parts.join(" · ")
}

/// `GET /admin/rules`
pub async fn get_rules(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, AppError> {
    let records = state.store.list_rules().await?;
    let compiled = state.rules.current(&state.store).await?;
    let rules = records
        .iter()
        .enumerate()
        .map(|(i, r)| RuleRow {
            id: r.id,
            position: i + 1,
            name: r.name.clone(),
            description: r.description.clone(),
            enabled: r.enabled,
            effect: r.effect.as_str(),
            pattern: r.pattern.clone(),
            role: r.role_template.clone(),
            extras: extras(r),
            version: r.version,
            // The rule the first migration installs has no edit time: say so, not 1970.
            updated: if r.updated_at == 0 {
                "built in, never edited".to_string()
            } else {
                format!("{} by {}", when(Some(r.updated_at)), r.updated_by)
            },
        })
        .collect();
    let history = state
        .store
        .history(Some("rule"), None, 20)
        .await?
        .into_iter()
        .map(HistoryRow::from)
        .collect();
    render_status(
        StatusCode::OK,
        &RulesPage {
            nav: Some(admin.0.nav()),
            rules,
            history,
            broken: compiled
                .broken
                .iter()
                .map(|b| format!("{}: {}", b.rule, b.error))
                .collect(),
            active: compiled.set.len(),
        },
    )
}

struct PresetView {
    key: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "admin/rule_form.html")]
struct RuleFormPage {
    nav: Option<Nav>,
    heading: String,
    action: String,
    form: RuleForm,
    errors: Errors,
    /// Set when someone else saved first.
    conflict: String,
    /// The saved values, shown beside the admin's on a conflict.
    current: Option<RuleForm>,
    presets: Vec<PresetView>,
    history: Vec<HistoryRow>,
}

fn render_status<T: Template>(status: StatusCode, page: &T) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

fn presets() -> Vec<PresetView> {
    PRESETS
        .iter()
        .map(|p| PresetView {
            key: p.key,
            label: p.label,
        })
        .collect()
}

fn form_page(
    admin: &AdminUser,
    id: Option<i64>,
    form: RuleForm,
    errors: Errors,
    history: Vec<HistoryRow>,
) -> RuleFormPage {
    RuleFormPage {
        nav: Some(admin.0.nav()),
        heading: match id {
            Some(_) => format!("Edit rule “{}”", form.name),
            None => "New rule".to_string(),
        },
        action: id.map_or("/admin/rules/new".to_string(), |id| {
            format!("/admin/rules/{id}")
        }),
        form,
        errors,
        conflict: String::new(),
        current: None,
        presets: presets(),
        history,
    }
}

/// `GET /admin/rules/new?preset=adfs|okta`
#[derive(Deserialize, Debug)]
pub struct NewRuleQuery {
    #[serde(default)]
    preset: String,
}

/// `GET /admin/rules/new`
pub async fn get_new_rule(
    admin: AdminUser,
    query: web::Query<NewRuleQuery>,
) -> Result<HttpResponse, AppError> {
    let mut form = RuleForm {
        enabled: Some("on".into()),
        effect: "allow".into(),
        ..RuleForm::default()
    };
    if let Some(p) = PRESETS.iter().find(|p| p.key == query.preset) {
        form.name = p.label.split(':').next().unwrap_or(p.key).to_string();
        form.pattern = p.pattern.to_string();
        form.role = p.role.to_string();
    }
    render_status(
        StatusCode::OK,
        &form_page(&admin, None, form, Errors::default(), Vec::new()),
    )
}

/// Every problem at once: what the form cannot even read, and what the rule check finds in
/// the rest, so one save shows all of them.
fn validate(state: &AppState, form: &RuleForm) -> Result<RuleSpec, Vec<FieldError>> {
    let (spec, mut errors) = form.to_spec();
    match spec.compile(state.profile.partition) {
        Ok(rule) => errors.extend(state.profile.check_rule_session(&rule.session)),
        Err(found) => errors.extend(found),
    }
    if errors.is_empty() {
        Ok(spec)
    } else {
        Err(errors)
    }
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

/// `POST /admin/rules/new`
pub async fn post_new_rule(
    state: web::Data<AppState>,
    CsrfForm { user: admin, form }: CsrfForm<RuleForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    let spec = match validate(&state, &form) {
        Ok(spec) => spec,
        Err(errors) => {
            return render_status(
                StatusCode::BAD_REQUEST,
                &form_page(&admin, None, form, Errors::from(&errors), Vec::new()),
            )
        }
    };
    let change = Change {
        actor: &admin.0.identity.username,
        at: now(),
    };
    match state.store.create_rule(&spec, &change).await {
        Ok(id) => {
            tracing::info!(admin = %change.actor, rule = %spec.name, id, "mapping rule created");
            Ok(redirect(&format!("/admin/rules#rule-{id}")))
        }
        Err(StoreError::Conflict) => {
            let errors = Errors::name_taken(&spec.name);
            render_status(
                StatusCode::CONFLICT,
                &form_page(&admin, None, form, errors, Vec::new()),
            )
        }
        Err(e) => Err(e.into()),
    }
}

async fn rule_history(state: &AppState, id: i64) -> Result<Vec<HistoryRow>, AppError> {
    Ok(state
        .store
        .history(Some("rule"), Some(&id.to_string()), 20)
        .await?
        .into_iter()
        .map(HistoryRow::from)
        .collect())
}

/// `GET /admin/rules/{id}`
pub async fn get_rule(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let record = state.store.rule(id).await?.ok_or(AppError::NotFound)?;
    let form = RuleForm::from_spec(&record.spec(), Some(record.version));
    let history = rule_history(&state, id).await?;
    render_status(
        StatusCode::OK,
        &form_page(&admin, Some(id), form, Errors::default(), history),
    )
}

/// `POST /admin/rules/{id}`
pub async fn post_rule(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    CsrfForm { user: admin, form }: CsrfForm<RuleForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let Some(version) = form.version else {
        return Err(AppError::BadRequest(
            "The form has no version; reload the rule and edit it again.".into(),
        ));
    };
    let spec = match validate(&state, &form) {
        Ok(spec) => spec,
        Err(errors) => {
            let errors = Errors::from(&errors);
            let history = rule_history(&state, id).await?;
            return render_status(
                StatusCode::BAD_REQUEST,
                &form_page(&admin, Some(id), form, errors, history),
            );
        }
    };
    let change = Change {
        actor: &admin.0.identity.username,
        at: now(),
    };
    match state.store.update_rule(id, version, &spec, &change).await {
        Ok(()) => {
            tracing::info!(admin = %change.actor, rule = %spec.name, id, "mapping rule updated");
            Ok(redirect(&format!("/admin/rules#rule-{id}")))
        }
        Err(StoreError::Stale(why)) => {
            let current = state.store.rule(id).await?;
            let history = rule_history(&state, id).await?;
            let mut page = form_page(&admin, Some(id), form, Errors::default(), history);
            page.conflict = format!(
                "{why}. Your changes were not saved; they are still in the form below, next to the values \
                 saved now. Submit again to replace the saved values with yours."
            );
            if let Some(current) = current {
                page.form.version = Some(current.version);
                page.current = Some(RuleForm::from_spec(&current.spec(), Some(current.version)));
            }
            render_status(StatusCode::CONFLICT, &page)
        }
        Err(StoreError::Conflict) => {
            let errors = Errors::name_taken(&spec.name);
            let history = rule_history(&state, id).await?;
            render_status(
                StatusCode::CONFLICT,
                &form_page(&admin, Some(id), form, errors, history),
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// Up, down, enable, disable or delete, from the list.
#[derive(Deserialize, Debug)]
pub struct RuleActionForm {
    #[serde(default)]
    csrf_token: String,
    action: String,
    version: Option<i64>,
}

impl CsrfToken for RuleActionForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /admin/rules/{id}/action`
pub async fn post_rule_action(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    CsrfForm { user: admin, form }: CsrfForm<RuleActionForm, AdminUser>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let change = Change {
        actor: &admin.0.identity.username,
        at: now(),
    };
    let version = || {
        form.version.ok_or_else(|| {
            AppError::BadRequest("The form has no version; reload the list and try again.".into())
        })
    };
    match form.action.as_str() {
        "up" | "down" => {
            state
                .store
                .move_rule(id, form.action == "up", &change)
                .await?
        }
        "enable" | "disable" => {
            let record = state.store.rule(id).await?.ok_or(AppError::NotFound)?;
            let mut spec = record.spec();
            spec.enabled = form.action == "enable";
            state
                .store
                .update_rule(id, version()?, &spec, &change)
                .await?;
        }
        "delete" => state.store.delete_rule(id, version()?, &change).await?,
        other => {
            return Err(AppError::BadRequest(format!(
                "unknown rule action `{other}`"
            )));
        }
    }
    tracing::info!(admin = %change.actor, id, action = %form.action, "mapping rule changed");
    Ok(redirect(&format!("/admin/rules#rule-{id}")))
}
