//! `/admin/rules`: list, create, edit, reorder, enable/disable and delete mapping rules.
//!
//! Edits carry the version the admin loaded. When someone else saved in between, the form comes
//! back with the admin's own values untouched, the saved values beside them and a 409: nothing
//! is overwritten silently and nothing typed is lost.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::when;
use crate::clock::now;
use crate::http::error::AppError;
use crate::http::routes::csrf::{CsrfForm, CsrfToken};
use crate::http::routes::{AdminUser, Nav};
use crate::http::state::AppState;
use crate::mapping::{Effect, FieldError, RuleSpec, PRESETS};
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
            updated: format!("{} by {}", when(Some(r.updated_at)), r.updated_by),
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

/// The rule form as posted (and as re-shown).
#[derive(Deserialize, Debug, Default, Clone)]
pub struct RuleForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    /// Checkbox: present when ticked.
    enabled: Option<String>,
    #[serde(default)]
    effect: String,
    #[serde(default)]
    pattern: String,
    case_sensitive: Option<String>,
    #[serde(default)]
    role: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    session_duration: String,
    #[serde(default)]
    relay_state: String,
    version: Option<i64>,
}

impl CsrfToken for RuleForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl RuleForm {
    fn from_spec(spec: &RuleSpec, version: Option<i64>) -> RuleForm {
        RuleForm {
            csrf_token: String::new(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            enabled: spec.enabled.then(|| "on".to_string()),
            effect: spec.effect.as_str().to_string(),
            pattern: spec.pattern.clone(),
            case_sensitive: spec.case_sensitive.then(|| "on".to_string()),
            role: spec.role.clone(),
            provider: spec.provider.clone().unwrap_or_default(),
            session_duration: spec
                .session_duration
                .map(|d| d.to_string())
                .unwrap_or_default(),
            relay_state: spec.relay_state.clone().unwrap_or_default(),
            version,
        }
    }

    /// The spec the form describes, or the errors of the fields that cannot even be read.
    fn to_spec(&self) -> Result<RuleSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let effect = Effect::parse(&self.effect).unwrap_or_else(|| {
            errors.push(FieldError {
                field: "effect",
                message: "choose allow or deny".into(),
            });
            Effect::Allow
        });
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let session_duration = match self.session_duration.trim() {
            "" => None,
            raw => match raw.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(FieldError {
                        field: "session_duration",
                        message: format!("`{raw}` is not a whole number of seconds (900 to 43200)"),
                    });
                    None
                }
            },
        };
        let spec = RuleSpec {
            name: self.name.trim().to_string(),
            description: self.description.trim().to_string(),
            enabled: self.enabled.is_some(),
            effect,
            pattern: self.pattern.trim().to_string(),
            case_sensitive: self.case_sensitive.is_some(),
            role: self.role.trim().to_string(),
            provider: text(&self.provider),
            session_duration,
            relay_state: text(&self.relay_state),
        };
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(errors)
        }
    }
}

/// One message per field, shown under its input.
#[derive(Default)]
struct Errors {
    name: String,
    effect: String,
    pattern: String,
    role: String,
    provider: String,
    session_duration: String,
    relay_state: String,
}

impl Errors {
    fn from(list: &[FieldError]) -> Errors {
        let mut e = Errors::default();
        for f in list {
            let slot = match f.field {
                "name" => &mut e.name,
                "effect" => &mut e.effect,
                "match" => &mut e.pattern,
                "role" => &mut e.role,
                "provider" => &mut e.provider,
                "session_duration" => &mut e.session_duration,
                _ => &mut e.relay_state,
            };
            if !slot.is_empty() {
                slot.push_str("; ");
            }
            slot.push_str(&f.message);
        }
        e
    }

    fn name_taken(name: &str) -> Errors {
        Errors {
            name: format!("a rule named “{name}” exists already; choose another name"),
            ..Errors::default()
        }
    }

    fn any(&self) -> bool {
        [
            &self.name,
            &self.effect,
            &self.pattern,
            &self.role,
            &self.provider,
            &self.session_duration,
            &self.relay_state,
        ]
        .iter()
        .any(|s| !s.is_empty())
    }
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

fn validate(state: &AppState, form: &RuleForm) -> Result<RuleSpec, Vec<FieldError>> {
    let spec = form.to_spec()?;
    spec.compile(state.profile.partition)?;
    Ok(spec)
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
