//! Settings screens for supervisors and administrators: the index (`/ui/admin`), macros
//! (canned responses) here, and in the modules below agents and roles, departments and their
//! calendars, FAQ articles, routing rules, SLA settings and e-mail templates.
//!
//! Every screen follows one pattern: a list, a form whose every field's error stands next to it
//! (422 with what was typed kept), CSRF on every POST, and the desk deciding who may do what:
//! agents get 403, and supervisors see only what the desk lets them change.

use crate::AppState;
use crate::ui::{Frame, Page, Signed, csrf_ok, frame, not_found_page, render, secure, signed_in, to_login};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ombuds_core::macros::{Macro, MacroDraft, PLACEHOLDERS};
use ombuds_core::*;
use ombuds_desk::DeskError;
use serde::Deserialize;
use std::collections::BTreeMap;

mod agents;
mod departments;
mod faq;
mod settings;
mod templates;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/admin", get(index))
        .route("/ui/admin/macros", get(macros_page).post(macro_save))
        .route("/ui/admin/macros/{id}/delete", post(macro_delete))
        .merge(agents::routes())
        .merge(departments::routes())
        .merge(faq::routes())
        .merge(settings::routes())
        .merge(templates::routes())
}

// ------------------------------------------------------------------ what every screen shares

/// Field → its error message, shown next to the field.
pub(crate) type Errors = BTreeMap<String, String>;

/// Who a screen is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Supervisors and administrators.
    Staff,
    /// Administrators only.
    Admin,
}

/// The signed-in person and the page's frame when they may use a screen that needs `need`; else
/// the answer: to the sign-in page, or a 403 saying who may.
pub(crate) async fn gate(s: &AppState, headers: &HeaderMap, lang: Option<&str>, need: Need) -> Result<(Signed, Frame), Box<Response>> {
    let Some(signed) = signed_in(s, headers).await else { return Err(Box::new(to_login(lang))) };
    let f = frame(s, headers, lang, Some(&signed.me));
    let refused = match (signed.me.role, need) {
        (Role::Agent, _) => Some("admin-forbidden"),
        (Role::Supervisor, Need::Admin) => Some("admin-only"),
        _ => None,
    };
    if let Some(key) = refused {
        let body = format!(
            "<!DOCTYPE html><html lang=\"{}\"><meta charset=\"utf-8\"><p>{}</p><p><a href=\"/ui/queue\">{}</a></p></html>",
            f.page.lang,
            f.page.t(key),
            f.page.t("queue-title")
        );
        return Err(Box::new(render(StatusCode::FORBIDDEN, Ok(body), f.set_cookies)));
    }
    Ok((signed, f))
}

/// A form's fields as sent, in order: repeated names (check boxes) are kept, which
/// `serde_urlencoded` structs cannot do.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, or "".
    pub(crate) fn one(&self, name: &str) -> String {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }
    /// Every value of `name`, without empty ones.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim().to_string()).collect()
    }
    pub(crate) fn csrf_ok(&self, headers: &HeaderMap) -> bool {
        csrf_ok(headers, &self.one("csrf"))
    }
}

/// The message for a field the desk or the core refused, by the error's code; `special` lists
/// the screen's own codes first.
pub(crate) fn field_message(f: &Frame, code: &str, special: &[(&str, &str)]) -> String {
    if let Some((_, key)) = special.iter().find(|(c, _)| *c == code) {
        return f.page.t(key);
    }
    f.page.t(match code {
        "required" => "field-required",
        "too_long" => "field-too-long",
        "invalid_email" => "field-invalid-email",
        _ => "field-invalid",
    })
}

/// The desk's field errors as messages next to the fields.
pub(crate) fn desk_errors(f: &Frame, errs: Vec<FieldError>, special: &[(&str, &str)]) -> Errors {
    let mut out = Errors::new();
    for e in errs {
        let m = field_message(f, e.code, special);
        out.entry(e.field).or_insert(m);
    }
    out
}

/// (code, name) of every department, in the page's language.
pub(crate) async fn department_names(s: &AppState, f: &Frame, active_only: bool) -> Vec<(String, String)> {
    let lang = f.page.texts.lang();
    s.desk
        .departments()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|d| d.active || !active_only)
        .map(|d| (d.code.as_str().to_string(), d.name(lang).to_string()))
        .collect()
}

/// (code, name in its own language) of the languages.
pub(crate) fn language_names() -> Vec<(String, String)> {
    Language::ALL.iter().map(|l| (l.as_str().to_string(), crate::ui::Texts::new(*l).t("lang-name"))).collect()
}

/// Something went wrong below the desk: logged with its cause; the page says only that.
pub(crate) fn failed(f: Frame, what: &str, e: &DeskError) -> Response {
    tracing::error!(error = %e, "{what}");
    let body = format!("<!DOCTYPE html><html lang=\"{}\"><meta charset=\"utf-8\"><p>{}</p></html>", f.page.lang, f.page.t("admin-failed"));
    render(StatusCode::SERVICE_UNAVAILABLE, Ok(body), f.set_cookies)
}

// ------------------------------------------------------------------ the index

#[derive(Template)]
#[template(path = "ui/admin_index.html")]
struct IndexPage {
    page: Page,
    /// (href, title, what it is for)
    screens: Vec<(&'static str, String, String)>,
}

async fn index(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<crate::ui::LangQuery>) -> Response {
    let (signed, f) = match gate(&s, &headers, q.lang.as_deref(), Need::Staff).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let admin = signed.me.role == Role::Admin;
    let all: [(&str, &str, bool); 7] = [
        ("/ui/admin/agents", "agents", true),
        ("/ui/admin/departments", "departments", true),
        ("/ui/admin/macros", "macros", false),
        ("/ui/admin/faq", "faq", false),
        ("/ui/admin/routing", "routing", false),
        ("/ui/admin/sla", "sla", false),
        ("/ui/admin/templates", "templates", true),
    ];
    let screens = all
        .into_iter()
        .filter(|(_, _, admin_only)| admin || !admin_only)
        .map(|(href, key, _)| (href, f.page.t(&format!("admin-{key}-title")), f.page.t(&format!("admin-{key}-about"))))
        .collect();
    render(StatusCode::OK, IndexPage { page: f.page, screens }.render(), f.set_cookies)
}

#[derive(Template)]
#[template(path = "ui/macros.html")]
struct MacrosPage {
    page: Page,
    /// (id, title, department, languages)
    macros: Vec<(String, String, String, String)>,
    form: MacroForm,
    /// (code, name) of the departments
    departments: Vec<(String, String)>,
    placeholders: String,
    editing: bool,
    message: Option<String>,
    error: Option<String>,
    /// field → message
    errors: BTreeMap<String, String>,
}

impl MacrosPage {
    fn error_for(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct MacroForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub text_ru: String,
    #[serde(default)]
    pub text_kk: String,
    #[serde(default)]
    pub text_en: String,
}

impl MacroForm {
    fn of(m: &Macro) -> Self {
        let text = |l: Language| m.texts.get(&l).map(|b| b.as_str().to_string()).unwrap_or_default();
        MacroForm {
            csrf: String::new(),
            id: m.id.to_string(),
            title: m.title.as_str().to_string(),
            department: m.department.as_ref().map(|d| d.as_str().to_string()).unwrap_or_default(),
            text_ru: text(Language::Ru),
            text_kk: text(Language::Kk),
            text_en: text(Language::En),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct MacrosQuery {
    pub lang: Option<String>,
    pub edit: Option<String>,
    pub saved: Option<String>,
    pub deleted: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// Only supervisors and administrators see the settings: the frame for them, a plain refusal
/// for agents.
fn staff_only(f: Frame, signed: &Signed) -> Result<Frame, Box<Response>> {
    if signed.me.role == Role::Agent {
        let body = format!("<!DOCTYPE html><html lang=\"{}\"><meta charset=\"utf-8\"><p>{}</p><p><a href=\"/ui/queue\">{}</a></p></html>", f.page.lang, f.page.t("admin-forbidden"), f.page.t("queue-title"));
        return Err(Box::new(render(StatusCode::FORBIDDEN, Ok(body), f.set_cookies)));
    }
    Ok(f)
}

struct Shown {
    form: MacroForm,
    editing: bool,
    message: Option<String>,
    error: Option<String>,
    errors: BTreeMap<String, String>,
}

async fn show(s: &AppState, f: Frame, shown: Shown, status: StatusCode) -> Response {
    let texts = f.page.texts.clone();
    let departments = s.desk.departments().await.unwrap_or_default();
    let name_of = |code: &DepartmentCode| -> String {
        departments
            .iter()
            .find(|d| &d.code == code)
            .map_or_else(|| code.as_str().to_string(), |d| d.name(texts.lang()).to_string())
    };
    let macros = match s.desk.macros().await {
        Ok(ms) => ms
            .iter()
            .map(|m| {
                (
                    m.id.to_string(),
                    m.title.as_str().to_string(),
                    m.department.as_ref().map(&name_of).unwrap_or_else(|| texts.t("macro-all-departments")),
                    m.texts.keys().map(|l| l.as_str()).collect::<Vec<_>>().join(", "),
                )
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "macros could not be read");
            return render(StatusCode::INTERNAL_SERVER_ERROR, Ok("the macros could not be read".into()), f.set_cookies);
        }
    };
    let page = MacrosPage {
        macros,
        departments: departments.iter().filter(|d| d.active).map(|d| (d.code.as_str().to_string(), name_of(&d.code))).collect(),
        placeholders: PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" "),
        form: shown.form,
        editing: shown.editing,
        message: shown.message,
        error: shown.error,
        errors: shown.errors,
        page: f.page,
    };
    render(status, page.render(), f.set_cookies)
}

async fn macros_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<MacrosQuery>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return to_login(q.lang.as_deref()) };
    let f = match staff_only(frame(&s, &headers, q.lang.as_deref(), Some(&signed.me)), &signed) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut form = MacroForm::default();
    let mut editing = false;
    if let Some(id) = q.edit.as_deref() {
        let found = match uuid::Uuid::parse_str(id) {
            Ok(id) => s.desk.macros().await.ok().and_then(|ms| ms.into_iter().find(|m| m.id == id)),
            Err(_) => None,
        };
        match found {
            Some(m) => {
                form = MacroForm::of(&m);
                editing = true;
            }
            None => return not_found_page(f, "macro-not-found", "/ui/admin/macros", "macros-title"),
        }
    }
    let message = if q.saved.is_some() {
        Some(f.page.t("macro-saved"))
    } else if q.deleted.is_some() {
        Some(f.page.t("macro-deleted"))
    } else {
        None
    };
    show(&s, f, Shown { form, editing, message, error: None, errors: BTreeMap::new() }, StatusCode::OK).await
}

async fn macro_save(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<MacroForm>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return to_login(None) };
    let f = match staff_only(frame(&s, &headers, None, Some(&signed.me)), &signed) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let editing = !form.id.trim().is_empty();
    if !csrf_ok(&headers, &form.csrf) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, Shown { form, editing, message: None, error, errors: BTreeMap::new() }, StatusCode::FORBIDDEN).await;
    }
    let id = match form.id.trim() {
        "" => None,
        raw => match uuid::Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => return not_found_page(f, "macro-not-found", "/ui/admin/macros", "macros-title"),
        },
    };
    let draft = MacroDraft {
        id,
        title: form.title.clone(),
        department: Some(form.department.clone()),
        texts: [(Language::Ru, form.text_ru.clone()), (Language::Kk, form.text_kk.clone()), (Language::En, form.text_en.clone())].into(),
    };
    match s.desk.save_macro(&signed.who, draft).await {
        Ok(_) => secure(Redirect::to("/ui/admin/macros?saved=1").into_response()),
        Err(DeskError::Domain(DomainError::Invalid(errs))) => {
            let errors = errs
                .into_iter()
                .map(|e| {
                    let key = match e.code {
                        "required" => "field-required",
                        "too_long" => "field-too-long",
                        "unknown_placeholder" => "macro-unknown-placeholder",
                        _ if e.field == "department" => "macro-bad-department",
                        _ => "field-invalid",
                    };
                    (e.field, f.page.t(key))
                })
                .collect();
            show(&s, f, Shown { form, editing, message: None, error: None, errors }, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(DeskError::NotFound(_)) => not_found_page(f, "macro-not-found", "/ui/admin/macros", "macros-title"),
        Err(e) => {
            tracing::error!(error = %e, "a macro could not be saved");
            let error = Some(e.to_string());
            show(&s, f, Shown { form, editing, message: None, error, errors: BTreeMap::new() }, StatusCode::SERVICE_UNAVAILABLE).await
        }
    }
}

async fn macro_delete(State(s): State<AppState>, headers: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>, Form(form): Form<CsrfForm>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return to_login(None) };
    let f = match staff_only(frame(&s, &headers, None, Some(&signed.me)), &signed) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if !csrf_ok(&headers, &form.csrf) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, Shown { form: MacroForm::default(), editing: false, message: None, error, errors: BTreeMap::new() }, StatusCode::FORBIDDEN).await;
    }
    let Ok(id) = uuid::Uuid::parse_str(&id) else { return not_found_page(f, "macro-not-found", "/ui/admin/macros", "macros-title") };
    match s.desk.delete_macro(&signed.who, id).await {
        Ok(()) => secure(Redirect::to("/ui/admin/macros?deleted=1").into_response()),
        Err(DeskError::NotFound(_)) => not_found_page(f, "macro-not-found", "/ui/admin/macros", "macros-title"),
        Err(e) => {
            tracing::error!(error = %e, "a macro could not be deleted");
            let error = Some(e.to_string());
            show(&s, f, Shown { form: MacroForm::default(), editing: false, message: None, error, errors: BTreeMap::new() }, StatusCode::SERVICE_UNAVAILABLE).await
        }
    }
}
