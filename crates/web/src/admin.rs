//! Settings screens for supervisors and administrators. Macros (canned responses) so far:
//! a list, one form to write or change a macro in the three languages (each field's error next
//! to it), and deletion.

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

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/admin/macros", get(macros_page).post(macro_save)).route("/ui/admin/macros/{id}/delete", post(macro_delete))
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
