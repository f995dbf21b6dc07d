//! Routing rules and SLA settings as text (the TOML the API and the CLI take, see
//! docs/routing.md and docs/sla.md). Supervisors read them and try the rules on a complaint's
//! text (the dry run); administrators check and save them. A save names the version the editor
//! started from, so one of two editors is told to reload instead of overwriting the other.

use super::{Errors, Fields, Need, failed, gate, language_names};
use crate::AppState;
use crate::ui::{Frame, Page, Signed, render, secure};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ombuds_core::rules::RuleSetSpec;
use ombuds_core::sla::SlaSpec;
use ombuds_core::*;
use ombuds_desk::DeskError;
use ombuds_desk::routing::DryRunInput;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/admin/routing", get(routing_page).post(routing_save))
        .route("/ui/admin/routing/try", post(routing_try))
        .route("/ui/admin/sla", get(sla_page).post(sla_save))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Routing,
    Sla,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Routing => "/ui/admin/routing",
            Kind::Sla => "/ui/admin/sla",
        }
    }
}

/// The dry run's form.
#[derive(Debug, Default, Clone)]
struct TryForm {
    subject: String,
    body: String,
    channel: String,
    language: String,
}

/// What the dry run found.
struct TryResult {
    department: String,
    category: String,
    priority: String,
    routed_by: String,
    /// (rule, fired, why)
    trace: Vec<(String, bool, String)>,
}

#[derive(Template)]
#[template(path = "ui/admin_settings.html")]
struct SettingsPage {
    page: Page,
    routing: bool,
    title_key: &'static str,
    text_key: &'static str,
    action: &'static str,
    version: i64,
    /// (who, when)
    saved: Option<(String, String)>,
    text: String,
    admin: bool,
    message: Option<String>,
    error: Option<String>,
    /// The mistakes in the text, shown under it.
    text_errors: Vec<String>,
    try_form: TryForm,
    try_errors: Errors,
    result: Option<TryResult>,
    channels: Vec<(String, String)>,
    languages: Vec<(String, String)>,
}

/// What a page shows besides what is in force.
#[derive(Default)]
struct Shown {
    /// The editor's text and version as sent (`None`: what is in force).
    text: Option<(String, i64)>,
    message: Option<String>,
    error: Option<String>,
    text_errors: Vec<String>,
    try_form: TryForm,
    try_errors: Errors,
    result: Option<TryResult>,
}

async fn show(s: &AppState, f: Frame, signed: &Signed, kind: Kind, shown: Shown, status: StatusCode) -> Response {
    let texts = f.page.texts.clone();
    let (version, saved_by, saved_at, text) = match kind {
        Kind::Routing => match s.desk.routing_rules(&signed.who).await {
            Ok(v) => (v.version, v.saved_by, v.saved_at, v.spec.to_toml()),
            Err(e) => return failed(f, "the routing rules could not be read", &e),
        },
        Kind::Sla => match s.desk.sla_view(&signed.who) {
            Ok(v) => (v.version, v.saved_by, v.saved_at, v.spec.to_toml()),
            Err(e) => return failed(f, "the SLA settings could not be read", &e),
        },
    };
    let (text, version) = shown.text.unwrap_or((text, version));
    let page = SettingsPage {
        routing: kind == Kind::Routing,
        title_key: if kind == Kind::Routing { "admin-routing-title" } else { "admin-sla-title" },
        text_key: if kind == Kind::Routing { "routing-text" } else { "sla-text" },
        action: kind.path(),
        version,
        saved: saved_by.map(|b| (b, saved_at.map(|t| texts.when(t)).unwrap_or_default())),
        text,
        admin: signed.me.role == Role::Admin,
        message: shown.message,
        error: shown.error,
        text_errors: shown.text_errors,
        try_form: shown.try_form,
        try_errors: shown.try_errors,
        result: shown.result,
        channels: Channel::ALL.iter().map(|c| (c.as_str().to_string(), texts.t(&format!("channel-{}", c.as_str())))).collect(),
        languages: language_names(),
        page: f.page,
    };
    render(status, page.render(), f.set_cookies)
}

#[derive(Debug, Deserialize, Default)]
pub struct SettingsQuery {
    pub lang: Option<String>,
    pub saved: Option<String>,
}

async fn settings_page(s: AppState, headers: HeaderMap, q: SettingsQuery, kind: Kind) -> Response {
    let (signed, f) = match gate(&s, &headers, q.lang.as_deref(), Need::Staff).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let message = q.saved.is_some().then(|| f.page.t("settings-saved"));
    show(&s, f, &signed, kind, Shown { message, ..Shown::default() }, StatusCode::OK).await
}

async fn routing_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<SettingsQuery>) -> Response {
    settings_page(s, headers, q, Kind::Routing).await
}

async fn sla_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<SettingsQuery>) -> Response {
    settings_page(s, headers, q, Kind::Sla).await
}

async fn routing_save(State(s): State<AppState>, headers: HeaderMap, Form(fields): Form<Fields>) -> Response {
    settings_save(s, headers, fields, Kind::Routing).await
}

async fn sla_save(State(s): State<AppState>, headers: HeaderMap, Form(fields): Form<Fields>) -> Response {
    settings_save(s, headers, fields, Kind::Sla).await
}

/// The desk's answer to a check or a save.
enum Checked {
    /// Checked: the message to show.
    Fine(String),
    Saved,
}

/// Checks (`action=check`) or saves the text; administrators only, as the desk has it.
async fn settings_save(s: AppState, headers: HeaderMap, fields: Fields, kind: Kind) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let text: String = fields.one("text").replace("\r\n", "\n");
    let version = fields.one("version").trim().parse::<i64>().ok();
    let shown_text = Some((text.clone(), version.unwrap_or(0)));
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, &signed, kind, Shown { text: shown_text, error, ..Shown::default() }, StatusCode::FORBIDDEN).await;
    }
    if text.len() > 1024 * 1024 {
        let text_errors = vec![f.page.t("field-too-long")];
        return show(&s, f, &signed, kind, Shown { text: shown_text, text_errors, ..Shown::default() }, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let save = fields.one("action") != "check";
    let version = match (save, version) {
        (false, _) => 0,
        (true, Some(v)) => v,
        // A save must say which version it started from.
        (true, None) => {
            let error = Some(f.page.t("settings-stale"));
            return show(&s, f, &signed, kind, Shown { text: shown_text, error, ..Shown::default() }, StatusCode::CONFLICT).await;
        }
    };
    let unreadable = |f: &Frame, reason: String| vec![f.page.texts.with("settings-unreadable", &[("reason", reason)])];
    let result: Result<Checked, DeskError> = match kind {
        Kind::Routing => match RuleSetSpec::from_toml(&text) {
            Err(e) => {
                let text_errors = unreadable(&f, e.0);
                return show(&s, f, &signed, kind, Shown { text: shown_text, text_errors, ..Shown::default() }, StatusCode::UNPROCESSABLE_ENTITY).await;
            }
            Ok(spec) if save => s.desk.save_routing_rules(&signed.who, spec, Some(version)).await.map(|_| Checked::Saved),
            Ok(spec) => s.desk.check_routing_rules(&signed.who, &spec).await.map(|n| Checked::Fine(f.page.texts.count("routing-checked", "count", n as i64))),
        },
        Kind::Sla => match SlaSpec::from_toml(&text) {
            Err(e) => {
                let text_errors = unreadable(&f, e.0);
                return show(&s, f, &signed, kind, Shown { text: shown_text, text_errors, ..Shown::default() }, StatusCode::UNPROCESSABLE_ENTITY).await;
            }
            Ok(spec) if save => s.desk.save_sla(&signed.who, spec, Some(version)).await.map(|_| Checked::Saved),
            Ok(spec) => s.desk.check_sla_settings(&signed.who, &spec).await.map(|()| Checked::Fine(f.page.t("settings-valid"))),
        },
    };
    match result {
        Ok(Checked::Saved) => secure(Redirect::to(&format!("{}?saved=1", kind.path())).into_response()),
        Ok(Checked::Fine(message)) => show(&s, f, &signed, kind, Shown { text: shown_text, message: Some(message), ..Shown::default() }, StatusCode::OK).await,
        Err(DeskError::Domain(DomainError::Invalid(es))) => {
            // The desk names the rule (`rule[2] 'withdrawals' then.department`) or the field
            // (`calendars.payments.hours`); its words stay as the rules' own language.
            let error = Some(f.page.t("settings-invalid"));
            let text_errors = es.into_iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            show(&s, f, &signed, kind, Shown { text: shown_text, error, text_errors, ..Shown::default() }, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(DeskError::Conflict(_)) => {
            let error = Some(f.page.t("settings-stale"));
            show(&s, f, &signed, kind, Shown { text: shown_text, error, ..Shown::default() }, StatusCode::CONFLICT).await
        }
        Err(e) => failed(f, "settings could not be checked or saved", &e),
    }
}

async fn routing_try(State(s): State<AppState>, headers: HeaderMap, Form(fields): Form<Fields>) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Staff).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let try_form = TryForm {
        subject: fields.one("subject").chars().take(1000).collect(),
        body: fields.one("body").chars().take(100_000).collect(),
        channel: fields.one("channel"),
        language: fields.one("language"),
    };
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, &signed, Kind::Routing, Shown { try_form, error, ..Shown::default() }, StatusCode::FORBIDDEN).await;
    }
    let mut try_errors = Errors::new();
    if try_form.subject.trim().is_empty() && try_form.body.trim().is_empty() {
        try_errors.insert("body".into(), f.page.t("routing-text-required"));
    }
    let channel = match try_form.channel.as_str() {
        "" => None,
        c => Channel::parse(c).map_err(|_| try_errors.insert("channel".into(), f.page.t("field-invalid"))).ok(),
    };
    let language = match try_form.language.as_str() {
        "" => None,
        l => Language::parse(l).map_err(|_| try_errors.insert("language".into(), f.page.t("field-invalid"))).ok(),
    };
    if !try_errors.is_empty() {
        return show(&s, f, &signed, Kind::Routing, Shown { try_form, try_errors, ..Shown::default() }, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let input = DryRunInput {
        channel,
        kind: None,
        language,
        subject: try_form.subject.clone(),
        text: try_form.body.clone(),
        segments: Default::default(),
        tags: Default::default(),
    };
    match s.desk.routing_dry_run(&signed.who, input, None).await {
        Ok(run) => {
            let texts = &f.page.texts;
            let names = s.desk.departments().await.unwrap_or_default();
            let result = TryResult {
                department: run
                    .department
                    .as_ref()
                    .map(|d| names.iter().find(|n| &n.code == d).map_or_else(|| d.as_str().to_string(), |n| n.name(texts.lang()).to_string()))
                    .unwrap_or_else(|| texts.t("routing-result-triage")),
                category: run.decision.category.as_ref().map(|c| c.as_str().to_string()).unwrap_or_default(),
                priority: run.decision.priority.map(|p| texts.t(&format!("priority-{}", p.as_str()))).unwrap_or_default(),
                routed_by: run.routed_by,
                trace: run.trace.into_iter().map(|t| (t.rule, t.fired, t.why)).collect(),
            };
            show(&s, f, &signed, Kind::Routing, Shown { try_form, result: Some(result), ..Shown::default() }, StatusCode::OK).await
        }
        Err(e) => failed(f, "the dry run failed", &e),
    }
}
