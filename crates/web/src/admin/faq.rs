//! FAQ articles (supervisors and administrators): the list with language, category, state and
//! readers' votes, the deflection counts, writing or changing an article, and publishing or
//! unpublishing one.

use super::{Errors, Fields, Need, desk_errors, failed, gate, language_names};
use crate::AppState;
use crate::ui::{Frame, Page, Signed, not_found_page, render, secure};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ombuds_core::faq::FaqArticle;
use ombuds_core::*;
use ombuds_desk::DeskError;
use ombuds_desk::faq::FaqDraft;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/admin/faq", get(page).post(save)).route("/ui/admin/faq/{id}/publish", post(publish))
}

struct ArticleRow {
    id: String,
    title: String,
    language: String,
    category: String,
    published: bool,
    yes: String,
    no: String,
}

#[derive(Debug, Default, Clone)]
struct ArticleForm {
    id: String,
    language: String,
    category: String,
    title: String,
    body: String,
    published: bool,
}

impl ArticleForm {
    fn of(a: &FaqArticle) -> ArticleForm {
        ArticleForm {
            id: a.id.to_string(),
            language: a.language.as_str().to_string(),
            category: a.category.as_str().to_string(),
            title: a.title.as_str().to_string(),
            body: a.body.as_str().to_string(),
            published: a.published,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/admin_faq.html")]
struct FaqPage {
    page: Page,
    rows: Vec<ArticleRow>,
    /// (language, deflections over the last 30 days)
    deflections: Vec<(String, String)>,
    form: ArticleForm,
    languages: Vec<(String, String)>,
    message: Option<String>,
    error: Option<String>,
    errors: Errors,
}

/// What a page shows besides the list: the form as typed, a message, an error, field errors.
struct Shown {
    form: ArticleForm,
    message: Option<String>,
    error: Option<String>,
    errors: Errors,
}

impl Shown {
    fn form(form: ArticleForm) -> Shown {
        Shown { form, message: None, error: None, errors: Errors::new() }
    }
}

async fn show(s: &AppState, f: Frame, signed: &Signed, shown: Shown, status: StatusCode) -> Response {
    let texts = f.page.texts.clone();
    let (articles, deflections) = match tokio::try_join!(s.desk.faq_all(&signed.who), s.desk.deflections(&signed.who, 30)) {
        Ok(x) => x,
        Err(e) => return failed(f, "the FAQ could not be read", &e),
    };
    let rows = articles
        .iter()
        .map(|a| ArticleRow {
            id: a.id.to_string(),
            title: a.title.as_str().to_string(),
            language: a.language.as_str().to_string(),
            category: a.category.as_str().to_string(),
            published: a.published,
            yes: texts.number(a.helpful_yes),
            no: texts.number(a.helpful_no),
        })
        .collect();
    let deflections = Language::ALL
        .iter()
        .map(|l| {
            let n: i64 = deflections.iter().filter(|(_, language, _)| language == l.as_str()).map(|(_, _, n)| n).sum();
            (l.as_str().to_string(), texts.number(n))
        })
        .collect();
    let Shown { form, message, error, errors } = shown;
    let page = FaqPage { rows, deflections, form, languages: language_names(), message, error, errors, page: f.page };
    render(status, page.render(), f.set_cookies)
}

#[derive(Debug, Deserialize, Default)]
pub struct FaqQuery {
    pub lang: Option<String>,
    pub edit: Option<String>,
    pub saved: Option<String>,
}

fn blank(f: &Frame) -> ArticleForm {
    ArticleForm { language: f.page.lang.clone(), published: true, ..Default::default() }
}

async fn page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<FaqQuery>) -> Response {
    let (signed, f) = match gate(&s, &headers, q.lang.as_deref(), Need::Staff).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut form = blank(&f);
    if let Some(id) = q.edit.as_deref() {
        let found = match id.parse::<uuid::Uuid>() {
            Ok(id) => s.desk.faq_all(&signed.who).await.ok().and_then(|all| all.into_iter().find(|a| a.id == id)),
            Err(_) => None,
        };
        match found {
            Some(a) => form = ArticleForm::of(&a),
            None => return not_found_page(f, "faq-not-found", "/ui/admin/faq", "admin-faq-title"),
        }
    }
    let message = q.saved.is_some().then(|| f.page.t("admin-saved"));
    show(&s, f, &signed, Shown { message, ..Shown::form(form) }, StatusCode::OK).await
}

const CODES: &[(&str, &str)] = &[("invalid_slug", "faq-bad-category")];

async fn save(State(s): State<AppState>, headers: HeaderMap, Form(fields): Form<Fields>) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Staff).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let form = ArticleForm {
        id: fields.one("id").chars().take(64).collect(),
        language: fields.one("language").chars().take(8).collect(),
        category: fields.one("category").chars().take(200).collect(),
        title: fields.one("title").chars().take(1000).collect(),
        body: fields.one("body").chars().take(100_000).collect(),
        published: !fields.one("published").is_empty(),
    };
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, &signed, Shown { error, ..Shown::form(form) }, StatusCode::FORBIDDEN).await;
    }
    let id = match form.id.trim() {
        "" => None,
        raw => match raw.parse::<uuid::Uuid>() {
            Ok(id) => Some(id),
            Err(_) => return not_found_page(f, "faq-not-found", "/ui/admin/faq", "admin-faq-title"),
        },
    };
    let mut errors = Errors::new();
    let mut refuse = |field: &str, e: FieldError| {
        errors.entry(field.to_string()).or_insert_with(|| super::field_message(&f, e.code, CODES));
    };
    let language = Language::parse(&form.language).map_err(|e| refuse("language", e)).ok();
    let category = Category::parse(&form.category).map_err(|e| refuse("category", e)).ok();
    let title = Subject::parse(&form.title).map_err(|e| refuse("title", e)).ok();
    let body = Body::parse(&form.body).map_err(|e| refuse("body", e)).ok();
    let (Some(language), Some(category), Some(title), Some(body)) = (language, category, title, body) else {
        return show(&s, f, &signed, Shown { errors, ..Shown::form(form) }, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let draft = FaqDraft { id, language, category, title, body, published: form.published };
    match s.desk.save_faq(&signed.who, draft).await {
        Ok(_) => secure(Redirect::to("/ui/admin/faq?saved=1").into_response()),
        Err(DeskError::Domain(DomainError::Invalid(es))) => {
            let errors = desk_errors(&f, es, CODES);
            show(&s, f, &signed, Shown { errors, ..Shown::form(form) }, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(DeskError::NotFound(_)) => not_found_page(f, "faq-not-found", "/ui/admin/faq", "admin-faq-title"),
        Err(e) => failed(f, "an article could not be saved", &e),
    }
}

async fn publish(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>, Form(fields): Form<Fields>) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Staff).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        let form = blank(&f);
        return show(&s, f, &signed, Shown { error, ..Shown::form(form) }, StatusCode::FORBIDDEN).await;
    }
    let found = match id.parse::<uuid::Uuid>() {
        Ok(id) => s.desk.faq_all(&signed.who).await.ok().and_then(|all| all.into_iter().find(|a| a.id == id)),
        Err(_) => None,
    };
    let Some(a) = found else { return not_found_page(f, "faq-not-found", "/ui/admin/faq", "admin-faq-title") };
    let draft = FaqDraft { id: Some(a.id), language: a.language, category: a.category, title: a.title, body: a.body, published: fields.one("published") == "1" };
    match s.desk.save_faq(&signed.who, draft).await {
        Ok(_) => secure(Redirect::to("/ui/admin/faq?saved=1").into_response()),
        Err(DeskError::NotFound(_)) => not_found_page(f, "faq-not-found", "/ui/admin/faq", "admin-faq-title"),
        Err(e) => failed(f, "an article could not be (un)published", &e),
    }
}
