//! The agent workspace's pages, rendered on the server (askama templates, Fluent texts in
//! ru/kk/en). This first part holds what every page shares and the first pages:
//! - the page frame: language negotiation (`?lang=`, then the `ombuds_lang` cookie, then
//!   `Accept-Language`, then Russian), the language switch, and every text from Fluent files
//!   (`locales/{en,ru,kk}/ui.ftl`) with Russian and Kazakh plural rules;
//! - security: secure headers and a strict content security policy on every page; the session
//!   in an `HttpOnly; SameSite=Strict` cookie; a CSRF token (double submit: a cookie and a
//!   hidden field that must match) on every form;
//! - sign-in (with the desk's lock-out after repeated failures), sign-out, and the queues.
//!
//! Handlers call the desk, never the store.

use crate::AppState;
use crate::extract::ClientIp;
use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader};
use ombuds_core::*;
use ombuds_desk::{AssigneeFilter, ComplaintFilter, DeskError, PageRequest};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;

fluent_templates::static_loader! {
    pub(crate) static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // Texts go into HTML: no invisible bidi isolation marks around arguments.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

pub(crate) const SESSION_COOKIE: &str = "ombuds_session";
pub(crate) const CSRF_COOKIE: &str = "ombuds_csrf";
pub(crate) const LANG_COOKIE: &str = "ombuds_lang";
const QUEUE_PAGE: u32 = 50;

/// The languages the workspace speaks, in the switch's order.
const LANGUAGES: [Language; 3] = [Language::Ru, Language::Kk, Language::En];

/// The texts of one language.
#[derive(Debug, Clone)]
pub struct Texts {
    lang: Language,
    id: LanguageIdentifier,
}

impl Texts {
    pub fn new(lang: Language) -> Texts {
        Texts { lang, id: lang.as_str().parse().expect("ru, kk and en are language identifiers") }
    }

    /// The text `key`; a missing key shows as the key itself (and a test checks there is none).
    pub fn t(&self, key: &str) -> String {
        LOCALES.try_lookup(&self.id, key).unwrap_or_else(|| key.to_string())
    }

    /// The text `key` with the number `name` = `n`, in the language's plural form. The
    /// messages choose their form by `$name` and show `$shown`: the number as the language
    /// writes it.
    pub fn count(&self, key: &str, name: &'static str, n: i64) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> =
            [(Cow::Borrowed(name), FluentValue::from(n)), (Cow::Borrowed("shown"), FluentValue::from(self.number(n)))].into();
        LOCALES.try_lookup_with_args(&self.id, key, &args).unwrap_or_else(|| key.to_string())
    }

    /// A whole number as the language writes it: `12 345` in Russian and Kazakh (a no-break
    /// space, from five digits on, as CLDR has it), `12,345` in English (from four).
    pub fn number(&self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let (sep, from) = match self.lang {
            Language::En => (',', 4),
            Language::Ru | Language::Kk => ('\u{a0}', 5),
        };
        let mut out = String::with_capacity(digits.len() + 8);
        if n < 0 {
            out.push('-');
        }
        if digits.len() < from {
            out.push_str(&digits);
            return out;
        }
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    pub fn lang(&self) -> Language {
        self.lang
    }

    /// The text `key` with named string arguments.
    pub fn with(&self, key: &str, args: &[(&'static str, String)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> = args.iter().map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.clone()))).collect();
        LOCALES.try_lookup_with_args(&self.id, key, &args).unwrap_or_else(|| key.to_string())
    }
}

/// Every key of the English file, for the test that every language has them all.
pub fn text_keys() -> Vec<String> {
    include_str!("../locales/en/ui.ftl")
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with(' ') && !k.starts_with('#')))
        .map(str::to_string)
        .collect()
}

/// What every page's frame needs.
pub struct Page {
    pub lang: String,
    pub languages: Vec<(String, String)>,
    /// The signed-in agent's name, if any.
    pub who: Option<String>,
    /// The signed-in agent is a supervisor or an administrator (sees the settings screens).
    pub staff: bool,
    pub csrf: String,
    pub(crate) texts: Texts,
}

impl Page {
    pub fn t(&self, key: &str) -> String {
        self.texts.t(key)
    }
}

#[derive(Template)]
#[template(path = "ui/login.html")]
struct LoginPage {
    page: Page,
    login: String,
    error: Option<String>,
    login_error: Option<String>,
    password_error: Option<String>,
    code_error: Option<String>,
}

struct Row {
    reference: String,
    subject: String,
    status: String,
    department: String,
    priority: String,
    due: String,
    breached: bool,
}

#[derive(Template)]
#[template(path = "ui/queue.html")]
struct QueuePage {
    page: Page,
    views: Vec<(&'static str, String)>,
    view: String,
    query: String,
    count_text: String,
    rows: Vec<Row>,
    next: Option<String>,
    /// The filters' choices, (value, label), and what is chosen ("" for any).
    departments: Vec<(String, String)>,
    channels: Vec<(String, String)>,
    priorities: Vec<(String, String)>,
    department: String,
    channel: String,
    priority: String,
}

struct MessageRow {
    kind: &'static str,
    label: String,
    at: String,
    body: String,
    /// (id, name, size)
    files: Vec<(String, String, String)>,
    /// The duplicate it came from, when it was merged in.
    from: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/complaint.html")]
struct ComplaintPage {
    page: Page,
    title: String,
    reference: String,
    error: Option<String>,
    subject: String,
    status: String,
    department: String,
    priority: String,
    assignee: String,
    suggestion: Option<String>,
    paused: bool,
    /// (name, due, state: "", "warned" or "breached")
    clocks: Vec<(String, String, &'static str)>,
    player: String,
    /// "Mail to this address bounces …", when it does.
    bouncing: Option<String>,
    /// What the checks of the player's latest e-mail say of its sender: (css class, line).
    sender_check: Option<(&'static str, String)>,
    created: String,
    description: String,
    description_files: Vec<(String, String, String)>,
    messages: Vec<MessageRow>,
    /// (score, comment)
    rating: Option<(u8, String)>,
    /// The player's other complaints: (reference, subject, status, filed)
    earlier: Vec<(String, String, String, String)>,
    /// (action, label, offers macros)
    text_actions: Vec<(&'static str, String, bool)>,
    /// Macros for this complaint, filled in: (title, text)
    macros: Vec<(String, String)>,
    /// The player's language, in its own name: replies should be written in it.
    player_language: String,
    /// (code, name) of the active departments, for routing.
    departments: Vec<(String, String)>,
    current_department: String,
    tags: String,
    history: Vec<(String, String)>,
    /// Whom a supervisor may hand the complaint to: active agents of its department, (id, name);
    /// empty for agents, who take complaints themselves.
    assignable: Vec<(String, String)>,
    current_assignee: String,
    /// Published FAQ articles in the player's language that may answer it: (id, title)
    articles: Vec<(String, String)>,
    /// The complaint this duplicate was merged into.
    merged_into: Option<String>,
    /// The duplicates merged into this complaint: (reference, subject)
    duplicates: Vec<(String, String)>,
    /// Whether the merge form is offered (an open or resolved complaint, not merged).
    can_merge: bool,
    /// The player's other open complaints, offered as targets: (reference, subject)
    merge_candidates: Vec<(String, String)>,
    /// The merge form's value and the error next to it, after a refused merge.
    merge_target: String,
    merge_error: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/help.html")]
struct HelpPage {
    page: Page,
    query: String,
    searched: bool,
    /// (category, [(id, title)])
    sections: Vec<(String, Vec<(String, String)>)>,
}

#[derive(Template)]
#[template(path = "ui/article.html")]
struct ArticlePage {
    page: Page,
    id: String,
    title: String,
    body: String,
    thanks: bool,
}

/// (name, label, input type or "textarea", value, error)
type FormField = (&'static str, String, &'static str, String, Option<String>);

#[derive(Template)]
#[template(path = "ui/portal.html")]
struct PortalPage {
    page: Page,
    deflected: bool,
    fields: Vec<FormField>,
}

#[derive(Template)]
#[template(path = "ui/portal_done.html")]
struct PortalDonePage {
    page: Page,
    message: String,
    reference: String,
}

#[derive(Template)]
#[template(path = "ui/me.html")]
struct MePage {
    page: Page,
    enabled: bool,
    secret: Option<String>,
    url: String,
    /// The otpauth URL as a QR code (an SVG `data:` URI) for the authenticator app's camera.
    qr: Option<String>,
    message: Option<String>,
    error: Option<String>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/me", get(me_page))
        .route("/ui/me/totp/start", post(me_totp_start))
        .route("/ui/me/totp/confirm", post(me_totp_confirm))
        .route("/ui/me/totp/off", post(me_totp_off))
        .route("/portal", get(portal).post(portal_submit))
        .route("/portal/answered", post(portal_answered))
        .route("/portal/done", get(portal_done))
        .route("/ui/assets/portal.js", get(portal_script))
        .route("/help", get(help))
        .route("/help/{id}", get(help_article))
        .route("/help/{id}/helpful", post(help_vote))
        .route("/ui", get(|| async { Redirect::to("/ui/queue") }))
        .route("/ui/login", get(login_page).post(login_submit))
        .route("/ui/logout", post(logout))
        .route("/ui/queue", get(queue))
        .route("/ui/complaints/{reference}", get(complaint_page))
        .route("/ui/complaints/{reference}/act", post(complaint_act))
        .route("/ui/complaints/{reference}/files/{id}", get(complaint_file))
        .route("/ui/assets/ui.css", get(stylesheet))
        .route("/ui/assets/workspace.js", get(workspace_script))
}

// ------------------------------------------------------------------ the frame

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 512)
}

/// The page's language: `?lang=`, the cookie, `Accept-Language` (first of ours by quality),
/// then Russian.
pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Language {
    if let Some(l) = query.and_then(|q| Language::parse(q).ok()) {
        return l;
    }
    if let Some(l) = cookie(headers, LANG_COOKIE).and_then(|c| Language::parse(&c).ok()) {
        return l;
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut ranked: Vec<(f32, Language)> = accept
        .split(',')
        .filter_map(|part| {
            let mut it = part.trim().split(';');
            let tag = it.next()?.trim().to_ascii_lowercase();
            let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let primary = tag.split('-').next()?;
            Language::parse(primary).ok().map(|l| (q, l))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.first().map(|(_, l)| *l).unwrap_or(Language::Ru)
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Equal strings in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn cookie_header(name: &str, value: &str, max_age: Option<i64>, http_only: bool, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are URL-safe")
}

/// Adds the headers every page carries.
pub(crate) fn secure(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The frame of a page: language, CSRF token (made when the browser has none), the agent.
pub(crate) struct Frame {
    pub(crate) page: Page,
    pub(crate) set_cookies: Vec<HeaderValue>,
}

pub(crate) fn frame(state: &AppState, headers: &HeaderMap, lang_query: Option<&str>, who: Option<&Agent>) -> Frame {
    let lang = negotiate(lang_query, headers);
    let secure_cookies = state.ui.secure_cookies;
    let mut set_cookies = vec![];
    let csrf = match cookie(headers, CSRF_COOKIE) {
        Some(c) => c,
        None => {
            let c = random_token();
            set_cookies.push(cookie_header(CSRF_COOKIE, &c, None, true, secure_cookies));
            c
        }
    };
    if lang_query.is_some_and(|q| Language::parse(q).is_ok()) {
        set_cookies.push(cookie_header(LANG_COOKIE, lang.as_str(), Some(365 * 24 * 3600), false, secure_cookies));
    }
    let texts = Texts::new(lang);
    let languages = LANGUAGES.iter().map(|l| (l.as_str().to_string(), Texts::new(*l).t("lang-name"))).collect();
    Frame { page: Page { lang: lang.as_str().into(), languages, who: who.map(|a| a.name.as_str().to_string()), staff: who.is_some_and(|a| a.role != Role::Agent), csrf, texts }, set_cookies }
}

pub(crate) fn render(status: StatusCode, html: Result<String, askama::Error>, set_cookies: Vec<HeaderValue>) -> Response {
    let mut res = match html {
        Ok(body) => (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be shown").into_response()
        }
    };
    for c in set_cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    secure(res)
}

/// The signed-in agent, from the session cookie.
pub(crate) async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<Signed> {
    let token = cookie(headers, SESSION_COOKIE)?;
    match state.desk.authenticate(&token).await {
        Ok(Principal::Agent(me)) => Some(Signed { who: Principal::Agent(me.clone()), me }),
        _ => None,
    }
}

/// A short page saying something was not found, with a link back (`back`, its text's key).
pub(crate) fn not_found_page(f: Frame, message_key: &str, back: &str, back_key: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"{}\"><meta charset=\"utf-8\"><p>{}</p><p><a href=\"{back}\">{}</a></p></html>",
        f.page.lang,
        f.page.t(message_key),
        f.page.t(back_key)
    );
    render(StatusCode::NOT_FOUND, Ok(body), f.set_cookies)
}

pub(crate) fn to_login(lang: Option<&str>) -> Response {
    let target = match lang.and_then(|l| Language::parse(l).ok()) {
        Some(l) => format!("/ui/login?lang={l}"),
        None => "/ui/login".to_string(),
    };
    secure(Redirect::to(&target).into_response())
}

// ------------------------------------------------------------------ sign-in

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    pub lang: Option<String>,
}

async fn login_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    if signed_in(&s, &headers).await.is_some() {
        return secure(Redirect::to("/ui/queue").into_response());
    }
    let f = frame(&s, &headers, q.lang.as_deref(), None);
    let page = LoginPage { page: f.page, login: String::new(), error: None, login_error: None, password_error: None, code_error: None };
    render(StatusCode::OK, page.render(), f.set_cookies)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub csrf: String,
}

/// The form's CSRF field must match the browser's CSRF cookie.
pub(crate) fn csrf_ok(headers: &HeaderMap, field: &str) -> bool {
    cookie(headers, CSRF_COOKIE).is_some_and(|c| same(&c, field))
}

async fn login_submit(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let f = frame(&s, &headers, None, None);
    let texts = f.page.texts.clone();
    let mut page = LoginPage { page: f.page, login: form.login.chars().take(64).collect(), error: None, login_error: None, password_error: None, code_error: None };
    if !csrf_ok(&headers, &form.csrf) {
        page.error = Some(texts.t("csrf-failed"));
        return render(StatusCode::FORBIDDEN, page.render(), f.set_cookies);
    }
    if form.login.trim().is_empty() {
        page.login_error = Some(texts.t("signin-required"));
    }
    if form.password.is_empty() {
        page.password_error = Some(texts.t("signin-password-required"));
    }
    if page.login_error.is_some() || page.password_error.is_some() {
        return render(StatusCode::UNPROCESSABLE_ENTITY, page.render(), f.set_cookies);
    }
    let code = Some(form.code.trim()).filter(|c| !c.is_empty());
    match s.desk.login_with_code(&form.login, &form.password, code).await {
        Ok(session) => {
            let mut res = Redirect::to("/ui/queue").into_response();
            let ttl = session.expires_at.duration_since(now()).as_secs().max(0);
            res.headers_mut().append(header::SET_COOKIE, cookie_header(SESSION_COOKIE, &session.token, Some(ttl), true, s.ui.secure_cookies));
            // A new CSRF token with the new session.
            res.headers_mut().append(header::SET_COOKIE, cookie_header(CSRF_COOKIE, &random_token(), None, true, s.ui.secure_cookies));
            secure(res)
        }
        Err(DeskError::TooManyAttempts { until }) => {
            let minutes = (until.duration_since(now()).as_secs() + 59) / 60;
            page.error = Some(texts.count("signin-locked", "minutes", minutes.max(1)));
            let mut res = render(StatusCode::TOO_MANY_REQUESTS, page.render(), f.set_cookies);
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from((minutes.max(1) * 60) as u64));
            res
        }
        Err(DeskError::Unauthorized(_)) => {
            page.error = Some(texts.t("signin-wrong"));
            render(StatusCode::UNAUTHORIZED, page.render(), f.set_cookies)
        }
        Err(DeskError::CodeRequired) => {
            page.code_error = Some(texts.t("signin-code-required"));
            render(StatusCode::UNAUTHORIZED, page.render(), f.set_cookies)
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            render(StatusCode::INTERNAL_SERVER_ERROR, Ok("the sign-in could not be completed".into()), f.set_cookies)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

async fn logout(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if !csrf_ok(&headers, &form.csrf) {
        return secure((StatusCode::FORBIDDEN, Texts::new(negotiate(None, &headers)).t("csrf-failed")).into_response());
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let _ = s.desk.logout(&token).await;
    }
    let mut res = Redirect::to("/ui/login").into_response();
    res.headers_mut().append(header::SET_COOKIE, cookie_header(SESSION_COOKIE, "", Some(0), true, s.ui.secure_cookies));
    secure(res)
}

// ------------------------------------------------------------------ queues

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    pub view: Option<String>,
    /// Words that must all appear in the reference, subject or description.
    pub q: Option<String>,
    pub after: Option<String>,
    pub lang: Option<String>,
    /// Filters: a department code, a channel, a priority (an unknown value is ignored).
    pub department: Option<String>,
    pub channel: Option<String>,
    pub priority: Option<String>,
}

pub(crate) const VIEWS: [(&str, &str); 9] = [
    ("mine", "queue-mine"),
    ("departments", "queue-departments"),
    ("unassigned", "queue-unassigned"),
    ("waiting", "queue-waiting"),
    ("at_risk", "queue-at-risk"),
    ("breached", "queue-breached"),
    ("escalated", "queue-escalated"),
    ("triage", "queue-triage"),
    ("all", "queue-all"),
];

fn open_statuses() -> Vec<Status> {
    Status::ALL.iter().copied().filter(|s| s.is_open()).collect()
}

pub(crate) fn filter_for(view: &str, me: &Agent) -> ComplaintFilter {
    let mut f = ComplaintFilter { statuses: open_statuses(), ..Default::default() };
    match view {
        // Every open complaint the agent may see: their departments' (and their own).
        "departments" => {}
        "unassigned" => f.assignee = Some(AssigneeFilter::Nobody),
        "at_risk" => f.sla_at_risk = Some(true),
        "waiting" => f.statuses = vec![Status::WaitingOnPlayer],
        "breached" => f.sla_breached = Some(true),
        "escalated" => f.escalated = Some(true),
        "triage" => f.unrouted = true,
        // Every complaint the agent may see, open or not: where searches for old ones go.
        "all" => f.statuses.clear(),
        _ => f.assignee = Some(AssigneeFilter::Agent(me.id)),
    }
    f
}

async fn queue(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<QueueQuery>) -> Response {
    let Some(Signed { who, me }) = signed_in(&s, &headers).await else { return to_login(q.lang.as_deref()) };
    let f = frame(&s, &headers, q.lang.as_deref(), Some(&me));
    let texts = f.page.texts.clone();
    let view = q.view.as_deref().filter(|v| VIEWS.iter().any(|(k, _)| k == v)).unwrap_or("mine").to_string();
    let after = q.after.as_deref().and_then(|a| a.parse::<uuid::Uuid>().ok());
    let query: String = q.q.unwrap_or_default().trim().chars().take(200).collect();
    let mut filter = filter_for(&view, &me);
    if !query.is_empty() {
        filter.text = Some(query.clone());
    }
    // A filter that does not parse is ignored (the select shows "any"): a hand-edited address
    // still shows a queue.
    let department = q.department.as_deref().and_then(|d| DepartmentCode::parse(d).ok());
    let channel = q.channel.as_deref().and_then(|c| Channel::parse(c).ok());
    let priority = q.priority.as_deref().and_then(|p| Priority::parse(p).ok());
    if department.is_some() && filter.unrouted {
        // Triage lists complaints without a department: a department filter empties it.
        filter.unrouted = false;
        filter.statuses = vec![];
    }
    filter.department = department.clone().or(filter.department);
    filter.channel = channel.or(filter.channel);
    filter.priority = priority.or(filter.priority);
    let page = match s.desk.list(&who, &filter, PageRequest { after, limit: QUEUE_PAGE }).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "the queue could not be read");
            return render(StatusCode::INTERNAL_SERVER_ERROR, Ok("the queue could not be read".into()), f.set_cookies);
        }
    };
    let departments = s.desk.departments().await.unwrap_or_default();
    let department_name = |code: &DepartmentCode| {
        departments.iter().find(|d| &d.code == code).map_or_else(|| code.as_str().to_string(), |d| d.name(texts.lang()).to_string())
    };
    let rows = page
        .items
        .iter()
        .map(|c| Row {
            reference: c.reference.to_string(),
            subject: c.subject.as_str().to_string(),
            status: texts.t(&format!("status-{}", c.status.as_str())),
            department: c.department.as_ref().map(department_name).unwrap_or_default(),
            priority: texts.t(&format!("priority-{}", c.priority.as_str())),
            due: c.next_sla_instant().map(|t| texts.when(t)).unwrap_or_default(),
            breached: c.sla.as_ref().is_some_and(|s| s.breached()),
        })
        .collect::<Vec<_>>();
    let views = VIEWS.iter().map(|(k, key)| (*k, texts.t(key))).collect();
    let count_text = texts.count("queue-count", "count", rows.len() as i64);
    let next = page.next.map(|n| n.to_string());
    let (department, channel, priority) = (
        department.map(|d| d.as_str().to_string()).unwrap_or_default(),
        channel.map(|c| c.as_str().to_string()).unwrap_or_default(),
        priority.map(|p| p.as_str().to_string()).unwrap_or_default(),
    );
    let html = QueuePage {
        page: f.page,
        views,
        view,
        query,
        count_text,
        rows,
        next,
        // The departments whose complaints the person sees: another's would list nothing.
        departments: departments.iter().filter(|d| d.active && (me.role == Role::Admin || me.departments.contains(&d.code))).map(|d| (d.code.as_str().to_string(), d.name(texts.lang()).to_string())).collect(),
        channels: Channel::ALL.iter().map(|c| (c.as_str().to_string(), texts.t(&format!("channel-{}", c.as_str())))).collect(),
        priorities: Priority::ALL.iter().rev().map(|p| (p.as_str().to_string(), texts.t(&format!("priority-{}", p.as_str())))).collect(),
        department,
        channel,
        priority,
    }
    .render();
    render(StatusCode::OK, html, f.set_cookies)
}

// ------------------------------------------------------------------ one complaint

impl Texts {
    /// An instant as people of the language write it (in UTC): `1 декабря 2026, 14:05`,
    /// `2026 ж. 1 желтоқсан, 14:05`, `1 Dec 2026, 14:05`.
    pub fn when(&self, t: jiff::Timestamp) -> String {
        let z = t.to_zoned(jiff::tz::TimeZone::UTC);
        let month = self.t(&format!("month-{}", z.month()));
        let (d, y, hm) = (z.day(), z.year(), z.strftime("%H:%M"));
        match self.lang {
            Language::Kk => format!("{y} ж. {d} {month}, {hm} UTC"),
            _ => format!("{d} {month} {y}, {hm} UTC"),
        }
    }
}

/// Renders a complaint's page, with `error` shown above it (a refused action).
/// Who is signed in: the principal the desk checks, and the agent it is.
pub(crate) struct Signed {
    pub(crate) who: Principal,
    pub(crate) me: Agent,
}

/// `merge` is the merge form's value and the error shown next to it, after a refused merge.
#[allow(clippy::too_many_arguments)]
async fn show_complaint(
    s: &AppState,
    headers: &HeaderMap,
    lang: Option<&str>,
    signed: &Signed,
    raw_ref: &str,
    error: Option<String>,
    status: StatusCode,
    merge: Option<(String, String)>,
) -> Response {
    let (who, me) = (&signed.who, &signed.me);
    let f = frame(s, headers, lang, Some(me));
    let texts = f.page.texts.clone();
    let not_found = |f: Frame| not_found_page(f, "complaint-not-found", "/ui/queue", "queue-title");
    let Ok(reference) = ComplaintRef::parse(raw_ref) else { return not_found(f) };
    let (view, history) = match tokio::try_join!(s.desk.complaint(who, &reference), s.desk.history(who, &reference)) {
        Ok(v) => v,
        Err(DeskError::NotFound(_)) => return not_found(f),
        Err(e) => {
            tracing::error!(error = %e, "a complaint could not be read");
            return render(StatusCode::INTERNAL_SERVER_ERROR, Ok("the complaint could not be read".into()), f.set_cookies);
        }
    };
    let c = &view.complaint;
    let agents = s.desk.agents().await.unwrap_or_default();
    let assignee = c.assignee.and_then(|id| agents.iter().find(|a| a.id == id)).map(|a| a.name.as_str().to_string()).unwrap_or_else(|| texts.t("complaint-nobody"));
    let clocks = c
        .sla
        .as_ref()
        .map(|s| {
            sla::ClockKind::ALL
                .iter()
                .filter_map(|k| s.clock(*k).map(|cl| (*k, *cl)))
                .map(|(k, cl)| {
                    let state = if s.alarms.contains(&sla::SlaClocks::alarm_key(k, sla::AlarmLevel::Breach)) {
                        "breached"
                    } else if s.alarms.contains(&sla::SlaClocks::alarm_key(k, sla::AlarmLevel::Warning)) {
                        "warned"
                    } else {
                        ""
                    };
                    (texts.t(&format!("sla-{}", k.as_str())), texts.when(cl.due), state)
                })
                .collect()
        })
        .unwrap_or_default();
    let p = &view.player;
    let player = [p.name.as_ref().map(|x| x.as_str().to_string()), p.email.as_ref().map(|x| x.as_str().to_string()), p.phone.as_ref().map(|x| x.as_str().to_string())]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    // Mail to the player's address comes back: say so where the address is shown.
    let bouncing = match &p.email {
        Some(email) => match s.desk.bouncing(email.as_str()).await {
            Ok(Some(b)) => {
                let args: HashMap<Cow<'static, str>, FluentValue> = [
                    (Cow::Borrowed("address"), FluentValue::from(b.address.clone())),
                    (Cow::Borrowed("since"), FluentValue::from(texts.when(b.first_at))),
                    (Cow::Borrowed("reason"), FluentValue::from(b.reason.clone())),
                ]
                .into();
                LOCALES.try_lookup_with_args(&texts.id, "complaint-bouncing", &args)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "the bouncing mark could not be read");
                None
            }
        },
        None => None,
    };
    // Whether the player's latest e-mail proved its sender (SPF/DKIM/DMARC at intake).
    let sender_check = match s.desk.mails_of(who, &reference).await {
        Ok(mails) => mails.iter().rev().find(|m| m.direction == ombuds_desk::MailDirection::In).and_then(|m| m.auth.clone()).map(|a| {
            let args: HashMap<Cow<'static, str>, FluentValue> = [
                (Cow::Borrowed("domain"), FluentValue::from(if a.domain.is_empty() { "?".to_string() } else { a.domain.clone() })),
                (Cow::Borrowed("result"), FluentValue::from(a.dmarc.as_str())),
            ]
            .into();
            let (class, key) = if a.verified() {
                ("verified", "complaint-sender-verified")
            } else if a.forged() {
                ("error", "complaint-sender-forged")
            } else {
                ("unverified", "complaint-sender-unverified")
            };
            (class, LOCALES.try_lookup_with_args(&texts.id, key, &args).unwrap_or_default())
        }),
        Err(e) => {
            tracing::warn!(error = %e, "the complaint's mails could not be read");
            None
        }
    };
    let suggestion = view.suggestion.as_ref().map(|sg| {
        let args: HashMap<Cow<'static, str>, FluentValue> = [
            (Cow::Borrowed("department"), FluentValue::from(sg.department.as_str().to_string())),
            (Cow::Borrowed("percent"), FluentValue::from((sg.confidence * 100.0).round() as i64)),
        ]
        .into();
        LOCALES.try_lookup_with_args(&texts.id, "complaint-suggestion", &args).unwrap_or_default()
    });
    let files = s.desk.attachments_of(who, &reference).await.unwrap_or_default();
    let files_of = |id: Option<uuid::Uuid>| -> Vec<(String, String, String)> {
        files.iter().filter(|a| a.message_id == id && (id.is_some() || a.complaint_id == c.id)).map(|a| (a.id.to_string(), a.filename.clone(), file_size(a.size))).collect()
    };
    let from = |id: uuid::Uuid| view.duplicates.iter().find(|d| d.id == id).map(|d| d.reference.to_string());
    let mut timeline: Vec<(jiff::Timestamp, MessageRow)> = view
        .messages
        .iter()
        .map(|m| {
            let kind = m.kind.as_str();
            let row = MessageRow {
                kind,
                label: texts.t(&format!("msg-{kind}")),
                at: texts.when(m.created_at),
                body: m.body.as_str().to_string(),
                files: files_of(Some(m.id)),
                from: from(m.complaint_id),
            };
            (m.created_at, row)
        })
        .collect();
    // A duplicate's first text, with its files, where it came in.
    for d in &view.duplicates {
        let files = files.iter().filter(|a| a.complaint_id == d.id && a.message_id.is_none()).map(|a| (a.id.to_string(), a.filename.clone(), file_size(a.size))).collect();
        let row = MessageRow {
            kind: "inbound",
            label: texts.t("msg-inbound"),
            at: texts.when(d.created_at),
            body: d.description.as_str().to_string(),
            files,
            from: Some(d.reference.to_string()),
        };
        timeline.push((d.created_at, row));
    }
    timeline.sort_by_key(|(at, _)| *at);
    let messages = timeline.into_iter().map(|(_, row)| row).collect();
    let same_player = ComplaintFilter { player_id: Some(c.player_id), ..Default::default() };
    let others = match s.desk.list(who, &same_player, PageRequest { after: None, limit: 11 }).await {
        Ok(p) => p.items.into_iter().filter(|o| o.id != c.id).take(10).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "the player's other complaints could not be listed");
            vec![]
        }
    };
    let earlier = others
        .iter()
        .map(|o| (o.reference.to_string(), o.subject.as_str().to_string(), texts.t(&format!("status-{}", o.status.as_str())), texts.when(o.created_at)))
        .collect();
    let can_merge = c.merged_into.is_none() && c.status != Status::Closed;
    let merge_candidates =
        others.iter().filter(|o| o.status.is_open()).map(|o| (o.reference.to_string(), o.subject.as_str().to_string())).collect();
    let (merge_target, merge_error) = match merge {
        Some((value, error)) => (value, Some(error)),
        None => (String::new(), None),
    };
    let articles = s.desk.faq_for_complaint(c, 3).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "FAQ suggestions could not be read");
        vec![]
    });
    let title_args: HashMap<Cow<'static, str>, FluentValue> = [(Cow::Borrowed("reference"), FluentValue::from(c.reference.to_string()))].into();
    let page = ComplaintPage {
        title: LOCALES.try_lookup_with_args(&texts.id, "complaint-title", &title_args).unwrap_or_default(),
        reference: c.reference.to_string(),
        error,
        subject: c.subject.as_str().to_string(),
        status: texts.t(&format!("status-{}", c.status.as_str())),
        department: c.department.as_ref().map(|d| d.as_str().to_string()).unwrap_or_default(),
        priority: texts.t(&format!("priority-{}", c.priority.as_str())),
        assignee,
        suggestion,
        paused: c.sla.as_ref().is_some_and(|s| s.paused_since.is_some()),
        clocks,
        player,
        bouncing,
        sender_check,
        created: texts.when(c.created_at),
        description: c.description.as_str().to_string(),
        description_files: files_of(None),
        messages,
        rating: c.rating.as_ref().map(|r| (r.score.get(), r.comment.as_ref().map(|b| b.as_str().to_string()).unwrap_or_default())),
        earlier,
        text_actions: [
            ("reply", "act-reply"),
            ("note", "act-note"),
            ("propose", "act-propose"),
            ("request", "act-request"),
            ("escalate", "act-escalate"),
            ("reopen", "act-reopen"),
        ]
            .into_iter()
            .map(|(a, k)| (a, texts.t(k), matches!(a, "reply" | "propose" | "request")))
            .collect(),
        macros: match s.desk.macros_for(c, p.name.as_ref(), me).await {
            Ok(ms) => ms
                .into_iter()
                .map(|(m, text)| (m.title.as_str().to_string(), text))
                // A suggested article can go into a reply as it stands.
                .chain(articles.iter().map(|a| (format!("{}: {}", texts.t("complaint-faq-short"), a.title.as_str()), a.body.as_str().to_string())))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "macros could not be read");
                vec![]
            }
        },
        articles: articles.iter().map(|a| (a.id.to_string(), a.title.as_str().to_string())).collect(),
        assignable: match (&c.department, me.role) {
            (Some(d), Role::Supervisor | Role::Admin) if c.status.is_open() => agents
                .iter()
                .filter(|a| a.active && (a.role == Role::Admin || a.departments.contains(d)))
                .map(|a| (a.id.to_string(), a.name.as_str().to_string()))
                .collect(),
            _ => vec![],
        },
        current_assignee: c.assignee.map(|a| a.to_string()).unwrap_or_default(),
        player_language: Texts::new(c.language).t("lang-name"),
        history: history.iter().map(|e| (texts.when(e.event.at), e.event.data.name().replace('_', " "))).collect(),
        departments: s
            .desk
            .departments()
            .await
            .map(|ds| {
                ds.iter()
                    .filter(|d| d.active)
                    .map(|d| (d.code.as_str().to_string(), d.name(texts.lang()).to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        current_department: c.department.as_ref().map(|d| d.as_str().to_string()).unwrap_or_default(),
        tags: c.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" "),
        merged_into: c.merged_into.as_ref().map(|m| m.reference.to_string()),
        duplicates: view.duplicates.iter().map(|d| (d.reference.to_string(), d.subject.as_str().to_string())).collect(),
        can_merge,
        merge_candidates,
        merge_target,
        merge_error,
        page: f.page,
    };
    render(status, page.render(), f.set_cookies)
}

/// A file's size as people read it.
pub(crate) fn file_size(n: i64) -> String {
    if n >= 1024 * 1024 { format!("{:.1} MB", n as f64 / 1_048_576.0) } else { format!("{} KB", (n + 1023) / 1024) }
}

/// A complaint's file, for an agent who may see the complaint.
async fn complaint_file(State(s): State<AppState>, headers: HeaderMap, axum::extract::Path((r, id)): axum::extract::Path<(String, String)>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return to_login(None) };
    let (Ok(reference), Ok(id)) = (ComplaintRef::parse(&r), uuid::Uuid::parse_str(&id)) else {
        return secure(StatusCode::NOT_FOUND.into_response());
    };
    match s.desk.attachment(&signed.who, &reference, id).await {
        Ok((info, data)) => crate::api::download(data, &info.content_type, &info.filename),
        Err(DeskError::NotFound(_)) => secure(StatusCode::NOT_FOUND.into_response()),
        Err(e) => {
            tracing::error!(error = %e, "a file could not be read");
            secure(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

async fn complaint_page(State(s): State<AppState>, headers: HeaderMap, axum::extract::Path(r): axum::extract::Path<String>, Query(q): Query<LangQuery>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return to_login(q.lang.as_deref()) };
    show_complaint(&s, &headers, q.lang.as_deref(), &signed, &r, None, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
pub struct ActForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub measures: String,
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub tags: String,
    /// Merge: the reference of the complaint to merge into, and whether to tell the player.
    #[serde(default)]
    pub target: String,
    /// Assign: the agent's id.
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub notify: Option<String>,
}

async fn complaint_act(State(s): State<AppState>, headers: HeaderMap, axum::extract::Path(r): axum::extract::Path<String>, Form(form): Form<ActForm>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return to_login(None) };
    let (who, me) = (&signed.who, &signed.me);
    let texts = Texts::new(negotiate(None, &headers));
    if !csrf_ok(&headers, &form.csrf) {
        return show_complaint(&s, &headers, None, &signed, &r, Some(texts.t("csrf-failed")), StatusCode::FORBIDDEN, None).await;
    }
    let Ok(reference) = ComplaintRef::parse(&r) else { return show_complaint(&s, &headers, None, &signed, &r, None, StatusCode::NOT_FOUND, None).await };
    if form.action == "merge" {
        return merge_act(&s, &headers, &signed, &r, &reference, &form, &texts).await;
    }
    let body = |raw: &str| Body::parse(raw).map_err(|_| texts.t("act-text-required"));
    let cmd: Result<ombuds_desk::CommandInput, String> = match form.action.as_str() {
        "take" => Ok(Command::Assign { agent: me.id }),
        "assign" => form.agent.parse::<uuid::Uuid>().map(|agent| Command::Assign { agent }).map_err(|_| texts.t("field-required")),
        "reply" => body(&form.text).map(|b| Command::AddMessage { kind: MessageKind::Outbound, channel: None, body: b }),
        "note" => body(&form.text).map(|b| Command::AddMessage { kind: MessageKind::Note, channel: None, body: b }),
        "propose" => body(&form.text).map(|text| Command::ProposeSolution { text }),
        "request" => body(&form.text).map(|text| Command::RequestInformation { text }),
        "escalate" => body(&form.text).map(|reason| Command::Escalate { level: EscalationLevel::Supervisor, reason }),
        "reopen" => body(&form.text).map(|reason| Command::Reopen { reason }),
        "route" => DepartmentCode::parse(&form.department)
            .map(|department| Command::Route { department, category: None })
            .map_err(|_| texts.t("field-required")),
        "tag" => {
            let wanted: Result<std::collections::BTreeSet<Tag>, _> = form.tags.split_whitespace().map(Tag::parse).collect();
            match wanted {
                Ok(wanted) => {
                    let current = s.desk.visible(who, &reference).await.map(|c| c.tags).unwrap_or_default();
                    Ok(Command::Tag { add: wanted.difference(&current).cloned().collect(), remove: current.difference(&wanted).cloned().collect() })
                }
                Err(e) => Err(e.message),
            }
        }
        "resolve" => body(&form.measures).and_then(|measures| body(&form.result).map(|result| Command::Resolve { measures, result })),
        _ => Err(texts.t("act-text-required")),
    };
    let cmd = match cmd {
        Ok(c) => c,
        Err(message) => return show_complaint(&s, &headers, None, &signed, &r, Some(message), StatusCode::UNPROCESSABLE_ENTITY, None).await,
    };
    match s.desk.apply(who, &reference, cmd).await {
        Ok(_) => secure(Redirect::to(&format!("/ui/complaints/{reference}")).into_response()),
        Err(e) => act_refused(&s, &headers, &signed, &r, &texts, e).await,
    }
}

/// The complaint's page again after the desk refused an action: "not found", the reason above
/// the page (403 when it is a permission, 409 otherwise), or a failure of ours (500).
async fn act_refused(s: &AppState, headers: &HeaderMap, signed: &Signed, r: &str, texts: &Texts, e: DeskError) -> Response {
    match e {
        DeskError::NotFound(_) => show_complaint(s, headers, None, signed, r, None, StatusCode::NOT_FOUND, None).await,
        e @ (DeskError::Domain(_) | DeskError::Conflict(_)) => {
            let message = texts.with("act-failed", &[("reason", e.to_string())]);
            let status = if matches!(&e, DeskError::Domain(DomainError::Forbidden(_))) { StatusCode::FORBIDDEN } else { StatusCode::CONFLICT };
            show_complaint(s, headers, None, signed, r, Some(message), status, None).await
        }
        e => {
            tracing::error!(error = %e, "an action failed");
            show_complaint(s, headers, None, signed, r, Some(texts.t("csrf-failed")), StatusCode::INTERNAL_SERVER_ERROR, None).await
        }
    }
}

/// Merges the complaint into the one the form names; a refusal is shown next to the field.
async fn merge_act(s: &AppState, headers: &HeaderMap, signed: &Signed, r: &str, source: &ComplaintRef, form: &ActForm, texts: &Texts) -> Response {
    let refuse = |key: &str, args: &[(&'static str, String)]| Some((form.target.trim().to_string(), texts.with(key, args)));
    let Ok(target) = ComplaintRef::parse(form.target.trim()) else {
        let key = if form.target.trim().is_empty() { "merge-error-required" } else { "merge-error-invalid_reference" };
        return show_complaint(s, headers, None, signed, r, None, StatusCode::UNPROCESSABLE_ENTITY, refuse(key, &[])).await;
    };
    // The note to the player, in the player's language, when asked for.
    let note = match form.notify.is_some() {
        true => match s.desk.visible(&signed.who, source).await {
            Ok(c) => {
                let text = Texts::new(c.language).with("merge-note-to-player", &[("duplicate", source.to_string()), ("target", target.to_string())]);
                Body::parse(&text).ok()
            }
            Err(_) => None,
        },
        false => None,
    };
    match s.desk.merge(&signed.who, source, &target, note).await {
        Ok((_, target)) => secure(Redirect::to(&format!("/ui/complaints/{}", target.reference)).into_response()),
        // A field the core names is shown next to the form's field, in the reader's language.
        Err(DeskError::Domain(DomainError::Invalid(errors))) => {
            let code = errors.first().map_or("invalid_reference", |e| e.code);
            let args = [("target", target.to_string())];
            show_complaint(s, headers, None, signed, r, None, StatusCode::UNPROCESSABLE_ENTITY, refuse(&format!("merge-error-{code}"), &args)).await
        }
        Err(e) => act_refused(s, headers, signed, r, texts, e).await,
    }
}

// ------------------------------------------------------------------ the public FAQ

#[derive(Debug, Deserialize)]
pub struct HelpQuery {
    pub lang: Option<String>,
    pub q: Option<String>,
    pub thanks: Option<String>,
}

async fn help(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<HelpQuery>) -> Response {
    let f = frame(&s, &headers, q.lang.as_deref(), None);
    let lang = f.page.texts.lang();
    let query: String = q.q.unwrap_or_default().chars().take(200).collect();
    let searched = !query.trim().is_empty();
    let articles = if searched { s.desk.faq_search(lang, &query, 20).await } else { s.desk.faq_published(lang).await };
    let articles = match articles {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "the FAQ could not be read");
            return render(StatusCode::INTERNAL_SERVER_ERROR, Ok("the answers could not be read".into()), f.set_cookies);
        }
    };
    let mut sections: Vec<(String, Vec<(String, String)>)> = vec![];
    for a in &articles {
        // Search results keep their ranking in one list; browsing groups by category.
        let category = if searched { String::new() } else { a.category.as_str().replace('_', " ") };
        match sections.last_mut() {
            Some((c, items)) if *c == category => items.push((a.id.to_string(), a.title.as_str().to_string())),
            _ => sections.push((category, vec![(a.id.to_string(), a.title.as_str().to_string())])),
        }
    }
    let html = HelpPage { page: f.page, query, searched, sections }.render();
    render(StatusCode::OK, html, f.set_cookies)
}

async fn help_article(State(s): State<AppState>, headers: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>, Query(q): Query<HelpQuery>) -> Response {
    let f = frame(&s, &headers, q.lang.as_deref(), None);
    let found = match id.parse::<uuid::Uuid>() {
        Ok(id) => s.desk.faq_article(id).await.ok(),
        Err(_) => None,
    };
    let Some(article) = found else {
        return not_found_page(f, "help-no-results", "/help", "help-back");
    };
    let html = ArticlePage {
        page: f.page,
        id: article.id.to_string(),
        title: article.title.as_str().to_string(),
        body: article.body.as_str().to_string(),
        thanks: q.thanks.is_some(),
    }
    .render();
    render(StatusCode::OK, html, f.set_cookies)
}

#[derive(Debug, Deserialize)]
pub struct VoteForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub helpful: String,
}

async fn help_vote(State(s): State<AppState>, ClientIp(client): ClientIp, headers: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>, Form(form): Form<VoteForm>) -> Response {
    let texts = Texts::new(negotiate(None, &headers));
    if !csrf_ok(&headers, &form.csrf) {
        return secure((StatusCode::FORBIDDEN, texts.t("csrf-failed")).into_response());
    }
    let helpful = match form.helpful.as_str() {
        "yes" => true,
        "no" => false,
        _ => return secure((StatusCode::UNPROCESSABLE_ENTITY, texts.t("help-helpful")).into_response()),
    };
    let Ok(uuid) = id.parse::<uuid::Uuid>() else { return secure((StatusCode::NOT_FOUND, texts.t("help-no-results")).into_response()) };
    match s.desk.faq_vote(uuid, helpful, client).await {
        Ok(()) => secure(Redirect::to(&format!("/help/{uuid}?thanks=1")).into_response()),
        Err(DeskError::NotFound(_)) => secure((StatusCode::NOT_FOUND, texts.t("help-no-results")).into_response()),
        Err(DeskError::RateLimited { .. }) => secure((StatusCode::TOO_MANY_REQUESTS, texts.t("rate-limited")).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "a vote could not be counted");
            secure((StatusCode::INTERNAL_SERVER_ERROR, "the vote could not be counted").into_response())
        }
    }
}

// ------------------------------------------------------------------ the player's complaint form

#[derive(Debug, Deserialize, Default)]
pub struct PortalForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct PortalQuery {
    pub lang: Option<String>,
    pub deflected: Option<String>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

fn portal_fields(texts: &Texts, form: &PortalForm, errors: &HashMap<&'static str, String>) -> Vec<FormField> {
    [("name", "portal-name", "text", &form.name), ("email", "portal-email", "email", &form.email), ("subject", "portal-subject", "text", &form.subject), ("description", "portal-description", "textarea", &form.description)]
        .into_iter()
        .map(|(name, label, kind, value)| (name, texts.t(label), kind, value.chars().take(20_000).collect(), errors.get(name).cloned()))
        .collect()
}

async fn portal(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<PortalQuery>) -> Response {
    let f = frame(&s, &headers, q.lang.as_deref(), None);
    let fields = portal_fields(&f.page.texts, &PortalForm::default(), &HashMap::new());
    let html = PortalPage { page: f.page, deflected: q.deflected.is_some(), fields }.render();
    render(StatusCode::OK, html, f.set_cookies)
}

async fn portal_submit(State(s): State<AppState>, ClientIp(client): ClientIp, headers: HeaderMap, Form(form): Form<PortalForm>) -> Response {
    let f = frame(&s, &headers, None, None);
    let texts = f.page.texts.clone();
    let mut errors: HashMap<&'static str, String> = HashMap::new();
    if !csrf_ok(&headers, &form.csrf) {
        let fields = portal_fields(&texts, &form, &errors);
        let mut page = PortalPage { page: f.page, deflected: false, fields };
        page.page.who = None;
        let res = render(StatusCode::FORBIDDEN, page.render(), f.set_cookies);
        return res;
    }
    let mut check = |name: &'static str, e: FieldError| {
        let key = match e.code {
            "required" => "field-required",
            "too_long" => "field-too-long",
            _ if name == "email" => "field-invalid-email",
            _ => "field-required",
        };
        errors.insert(name, texts.t(key));
    };
    let name = PersonName::parse(&form.name).map_err(|e| check("name", e)).ok();
    let email = EmailAddress::parse(&form.email).map_err(|e| check("email", e)).ok();
    let subject = Subject::parse(&form.subject).map_err(|e| check("subject", e)).ok();
    let description = Body::parse(&form.description).map_err(|e| check("description", e)).ok();
    let (Some(name), Some(email), Some(subject), Some(description)) = (name, email, subject, description) else {
        let fields = portal_fields(&texts, &form, &errors);
        return render(StatusCode::UNPROCESSABLE_ENTITY, PortalPage { page: f.page, deflected: false, fields }.render(), f.set_cookies);
    };
    let reg = Registration {
        kind: Kind::Complaint,
        channel: Channel::Web,
        player: PlayerContact { external_id: None, name: Some(name), email: Some(email), phone: None, language: Some(texts.lang()) },
        subject,
        description,
        language: Some(texts.lang()),
        department: None,
        category: None,
        priority: None,
        tags: Default::default(),
        segments: Default::default(),
    };
    match s.desk.register_anonymous("portal", reg, client).await {
        Ok(r) => {
            // The browser that filed it may follow it at once, without a code: this one
            // complaint (typing an address proves nothing about it).
            let mut res = Redirect::to(&format!("/portal/done?ref={}", r.complaint.reference)).into_response();
            match s.desk.submission_pass(r.complaint.id).await {
                Ok(pass) => {
                    res.headers_mut().append(header::SET_COOKIE, crate::track::pass_cookie(&s, &r.complaint.reference, &pass));
                }
                Err(e) => tracing::warn!(error = %e, "no tracking pass for a complaint filed on the portal"),
            }
            secure(res)
        }
        Err(DeskError::RateLimited { .. }) => {
            let mut errors = HashMap::new();
            errors.insert("description", texts.t("rate-limited"));
            let fields = portal_fields(&texts, &form, &errors);
            render(StatusCode::TOO_MANY_REQUESTS, PortalPage { page: f.page, deflected: false, fields }.render(), f.set_cookies)
        }
        Err(e) => {
            tracing::error!(error = %e, "a complaint from the portal could not be registered");
            render(StatusCode::INTERNAL_SERVER_ERROR, Ok("the complaint could not be registered; try again".into()), f.set_cookies)
        }
    }
}

async fn portal_answered(State(s): State<AppState>, ClientIp(client): ClientIp, headers: HeaderMap, Form(form): Form<PortalForm>) -> Response {
    let lang = negotiate(None, &headers);
    if !csrf_ok(&headers, &form.csrf) {
        return secure((StatusCode::FORBIDDEN, Texts::new(lang).t("csrf-failed")).into_response());
    }
    if let Err(e) = s.desk.record_deflection(lang, client).await {
        tracing::warn!(error = %e, "a deflection could not be counted");
    }
    secure(Redirect::to("/portal?deflected=1").into_response())
}

async fn portal_done(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<PortalQuery>) -> Response {
    let f = frame(&s, &headers, q.lang.as_deref(), None);
    let Some(reference) = q.reference.as_deref().and_then(|r| ComplaintRef::parse(r).ok()) else {
        return secure(Redirect::to("/portal").into_response());
    };
    let args: HashMap<Cow<'static, str>, FluentValue> = [(Cow::Borrowed("reference"), FluentValue::from(reference.to_string()))].into();
    let message = LOCALES.try_lookup_with_args(&f.page.texts.id, "portal-done", &args).unwrap_or_default();
    let html = PortalDonePage { page: f.page, message, reference: reference.to_string() }.render();
    render(StatusCode::OK, html, f.set_cookies)
}

async fn portal_script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../assets/portal.js"))
}

// ------------------------------------------------------------------ the agent's own account

#[derive(Debug, Deserialize, Default)]
pub struct CodeForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub code: String,
}

async fn show_me(s: &AppState, headers: &HeaderMap, lang: Option<&str>, signed: &Signed, enrolment: Option<ombuds_desk::TotpEnrolment>, message: Option<String>, error: Option<String>) -> Response {
    let f = frame(s, headers, lang, Some(&signed.me));
    let enabled = s.desk.totp_enabled(&signed.who).await.unwrap_or(false);
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let (secret, url) = match enrolment {
        Some(e) => {
            // Grouped by four, as authenticator apps show keys.
            let grouped = e.secret.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or("")).collect::<Vec<_>>().join(" ");
            (Some(grouped), e.otpauth_url)
        }
        None => (None, String::new()),
    };
    let qr = secret.as_ref().and_then(|_| qr_data_uri(&url));
    render(status, MePage { page: f.page, enabled, secret, url, qr, message, error }.render(), f.set_cookies)
}

/// `text` as a QR code in an SVG `data:` URI: drawn here, nothing fetched (the CSP allows
/// `data:` images and nothing else from outside).
pub(crate) fn qr_data_uri(text: &str) -> Option<String> {
    use base64::Engine;
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build();
    Some(format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg)))
}

async fn me_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return to_login(q.lang.as_deref()) };
    show_me(&s, &headers, q.lang.as_deref(), &signed, None, None, None).await
}

async fn me_totp_start(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<CodeForm>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return to_login(None) };
    let texts = Texts::new(negotiate(None, &headers));
    if !csrf_ok(&headers, &form.csrf) {
        return show_me(&s, &headers, None, &signed, None, None, Some(texts.t("csrf-failed"))).await;
    }
    match s.desk.start_totp(&signed.who).await {
        Ok(e) => show_me(&s, &headers, None, &signed, Some(e), None, None).await,
        Err(e) => show_me(&s, &headers, None, &signed, None, None, Some(e.to_string())).await,
    }
}

async fn me_totp_confirm(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<CodeForm>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return to_login(None) };
    let texts = Texts::new(negotiate(None, &headers));
    if !csrf_ok(&headers, &form.csrf) {
        return show_me(&s, &headers, None, &signed, None, None, Some(texts.t("csrf-failed"))).await;
    }
    match s.desk.confirm_totp(&signed.who, &form.code).await {
        Ok(()) => show_me(&s, &headers, None, &signed, None, Some(texts.t("totp-now-on")), None).await,
        Err(_) => show_me(&s, &headers, None, &signed, None, None, Some(texts.t("totp-wrong"))).await,
    }
}

async fn me_totp_off(State(s): State<AppState>, headers: HeaderMap, Form(form): Form<CodeForm>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return to_login(None) };
    let texts = Texts::new(negotiate(None, &headers));
    if !csrf_ok(&headers, &form.csrf) {
        return show_me(&s, &headers, None, &signed, None, None, Some(texts.t("csrf-failed"))).await;
    }
    match s.desk.disable_totp(&signed.who, &form.code).await {
        Ok(()) => show_me(&s, &headers, None, &signed, None, Some(texts.t("totp-now-off")), None).await,
        Err(_) => show_me(&s, &headers, None, &signed, None, None, Some(texts.t("totp-wrong"))).await,
    }
}

async fn workspace_script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../assets/workspace.js"))
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", include_str!("../assets/ui.css"))
}

/// A file compiled into the binary, cached by browsers for an hour.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    secure(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_text_and_plurals_follow_its_rules() {
        let keys = text_keys();
        assert!(keys.len() > 30, "{keys:?}");
        let args: HashMap<Cow<'static, str>, FluentValue> = ["count", "minutes", "reference", "department", "percent", "reason", "shown", "name", "duplicate", "target", "address", "since", "domain", "result"]
            .into_iter()
            .map(|k| (Cow::Borrowed(k), FluentValue::from(2)))
            .collect();
        for l in LANGUAGES {
            let t = Texts::new(l);
            for k in &keys {
                // Without falling back to English: each language has its own text.
                let own = LOCALES.lookup_no_default_fallback(&t.id, k, Some(&args));
                assert!(own.is_some_and(|v| !v.is_empty() && !v.contains('{')), "{l}: {k} is missing");
            }
        }
        let ru = Texts::new(Language::Ru);
        assert_eq!(ru.count("queue-count", "count", 1), "1 обращение");
        assert_eq!(ru.count("queue-count", "count", 3), "3 обращения");
        assert_eq!(ru.count("queue-count", "count", 5), "5 обращений");
        assert_eq!(ru.count("queue-count", "count", 21), "21 обращение");
        assert_eq!(ru.count("queue-count", "count", 11), "11 обращений");
        assert_eq!(Texts::new(Language::Kk).count("queue-count", "count", 5), "5 өтініш");
        assert_eq!(Texts::new(Language::En).count("queue-count", "count", 1), "1 complaint");
        assert_eq!(Texts::new(Language::En).count("queue-count", "count", 2), "2 complaints");
        assert_eq!(ru.count("queue-count", "count", 12_345), "12\u{a0}345 обращений");
        assert_eq!(ru.count("queue-count", "count", 1001), "1001 обращение");
        assert_eq!(Texts::new(Language::En).count("queue-count", "count", 1001), "1,001 complaints");
        assert_eq!(Texts::new(Language::Kk).number(1_234_567), "1\u{a0}234\u{a0}567");
        assert_eq!(Texts::new(Language::En).number(-1_234_567), "-1,234,567");
        assert_eq!(Texts::new(Language::En).number(999), "999");
        let t: jiff::Timestamp = "2026-12-01T14:05:00Z".parse().unwrap();
        assert_eq!(Texts::new(Language::Ru).when(t), "1 декабря 2026, 14:05 UTC");
        assert_eq!(Texts::new(Language::Kk).when(t), "2026 ж. 1 желтоқсан, 14:05 UTC");
        assert_eq!(Texts::new(Language::En).when(t), "1 Dec 2026, 14:05 UTC");
    }

    #[test]
    fn languages_are_negotiated() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(None, &h), Language::Ru);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("de-DE, en;q=0.8, kk;q=0.9"));
        assert_eq!(negotiate(None, &h), Language::Kk);
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; ombuds_lang=en"));
        assert_eq!(negotiate(None, &h), Language::En);
        assert_eq!(negotiate(Some("ru"), &h), Language::Ru);
        assert_eq!(negotiate(Some("xx"), &h), Language::En);
    }
}
