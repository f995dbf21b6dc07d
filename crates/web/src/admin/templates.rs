//! E-mail templates (administrators): every template the letters are made of, which ones were
//! changed, editing one with a preview rendered from sample values, and going back to the
//! built-in one. The desk checks a template by composing every letter with it before saving,
//! and the sender uses the saved ones for the next letter.

use super::{Fields, Need, failed, gate};
use crate::AppState;
use crate::ui::{Frame, Page, Signed, not_found_page, render, secure};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ombuds_core::*;
use ombuds_desk::DeskError;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/admin/templates", get(page).post(save)).route("/ui/admin/templates/reset", post(reset))
}

/// A composed preview: subject, text part, HTML part (shown as source).
struct Preview {
    subject: String,
    text: String,
    html: String,
}

#[derive(Template)]
#[template(path = "ui/admin_templates.html")]
struct TemplatesPage {
    page: Page,
    /// (name, "changed by …" or "built-in", changed)
    rows: Vec<(String, String, bool)>,
    /// The template being edited and its source.
    editing: Option<(String, String, bool)>,
    preview: Option<Preview>,
    message: Option<String>,
    error: Option<String>,
    source_error: Option<String>,
}

#[derive(Default)]
struct Shown {
    /// (name, source as typed)
    editing: Option<(String, String)>,
    preview: Option<Preview>,
    message: Option<String>,
    error: Option<String>,
    source_error: Option<String>,
}

async fn show(s: &AppState, f: Frame, signed: &Signed, shown: Shown, status: StatusCode) -> Response {
    let all = match s.desk.mail_templates(&signed.who).await {
        Ok(t) => t,
        Err(e) => return failed(f, "the e-mail templates could not be read", &e),
    };
    let texts = f.page.texts.clone();
    let rows = all
        .iter()
        .map(|t| {
            let state = match &t.replaced {
                Some((by, _)) => texts.with("template-replaced", &[("name", by.clone())]),
                None => texts.t("template-builtin"),
            };
            (t.name.clone(), state, t.replaced.is_some())
        })
        .collect();
    let editing = shown.editing.map(|(name, source)| {
        let changed = all.iter().any(|t| t.name == name && t.replaced.is_some());
        (name, source, changed)
    });
    let page = TemplatesPage { rows, editing, preview: shown.preview, message: shown.message, error: shown.error, source_error: shown.source_error, page: f.page };
    render(status, page.render(), f.set_cookies)
}

#[derive(Debug, Deserialize, Default)]
pub struct TemplatesQuery {
    pub lang: Option<String>,
    pub edit: Option<String>,
    pub saved: Option<String>,
    pub reset: Option<String>,
}

async fn page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<TemplatesQuery>) -> Response {
    let (signed, f) = match gate(&s, &headers, q.lang.as_deref(), Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut editing = None;
    if let Some(name) = q.edit.as_deref() {
        match s.desk.mail_templates(&signed.who).await.ok().and_then(|all| all.into_iter().find(|t| t.name == name)) {
            Some(t) => editing = Some((t.name, t.source)),
            None => return not_found_page(f, "template-not-found", "/ui/admin/templates", "admin-templates-title"),
        }
    }
    let message = if q.saved.is_some() {
        Some(f.page.t("template-saved"))
    } else if q.reset.is_some() {
        Some(f.page.t("template-reset-done"))
    } else {
        None
    };
    show(&s, f, &signed, Shown { editing, message, ..Shown::default() }, StatusCode::OK).await
}

/// Previews (`action=preview`) or saves a template.
async fn save(State(s): State<AppState>, headers: HeaderMap, Form(fields): Form<Fields>) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let name = fields.one("name");
    let source = fields.one("source").replace("\r\n", "\n");
    if !ombuds_mail_names().any(|n| n == name) {
        return not_found_page(f, "template-not-found", "/ui/admin/templates", "admin-templates-title");
    }
    let editing = Some((name.clone(), source.clone()));
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, &signed, Shown { editing, error, ..Shown::default() }, StatusCode::FORBIDDEN).await;
    }
    let refused = |f: &Frame, es: Vec<FieldError>| {
        let reason = es.into_iter().map(|e| e.message).collect::<Vec<_>>().join("; ");
        Some(f.page.texts.with("template-invalid", &[("reason", reason)]))
    };
    if fields.one("action") == "preview" {
        return match s.desk.preview_mail_template(&signed.who, &name, &source).await {
            Ok(c) => {
                let preview = Some(Preview { subject: c.subject, text: c.text, html: c.html });
                show(&s, f, &signed, Shown { editing, preview, ..Shown::default() }, StatusCode::OK).await
            }
            Err(DeskError::Domain(DomainError::Invalid(es))) => {
                let source_error = refused(&f, es);
                show(&s, f, &signed, Shown { editing, source_error, ..Shown::default() }, StatusCode::UNPROCESSABLE_ENTITY).await
            }
            Err(e) => failed(f, "a template could not be previewed", &e),
        };
    }
    match s.desk.save_mail_template(&signed.who, &name, &source).await {
        Ok(()) => secure(Redirect::to(&format!("/ui/admin/templates?edit={name}&saved=1")).into_response()),
        Err(DeskError::Domain(DomainError::Invalid(es))) => {
            let source_error = refused(&f, es);
            show(&s, f, &signed, Shown { editing, source_error, ..Shown::default() }, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => failed(f, "a template could not be saved", &e),
    }
}

/// The names of the templates that can be replaced.
fn ombuds_mail_names() -> impl Iterator<Item = String> {
    ombuds_desk::templates::template_names()
}

async fn reset(State(s): State<AppState>, headers: HeaderMap, Form(fields): Form<Fields>) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let name = fields.one("name");
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, &signed, Shown { error, ..Shown::default() }, StatusCode::FORBIDDEN).await;
    }
    match s.desk.reset_mail_template(&signed.who, &name).await {
        Ok(()) => secure(Redirect::to(&format!("/ui/admin/templates?edit={name}&reset=1")).into_response()),
        Err(DeskError::NotFound(_)) => not_found_page(f, "template-not-found", "/ui/admin/templates", "admin-templates-title"),
        Err(e) => failed(f, "a template could not be reset", &e),
    }
}
