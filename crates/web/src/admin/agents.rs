//! Agents and roles (administrators): the list, adding an agent (a password is made when none
//! is given, and shown once), changing one, and disabling or enabling one.

use super::{Errors, Fields, Need, department_names, desk_errors, failed, gate, language_names};
use crate::AppState;
use crate::ui::{Frame, Page, Signed, not_found_page, render, secure};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ombuds_core::*;
use ombuds_desk::{AgentUpdate, DeskError, NewAgent};
use serde::Deserialize;
use std::collections::BTreeSet;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/admin/agents", get(page).post(save)).route("/ui/admin/agents/{login}/active", post(set_active))
}

struct AgentRow {
    login: String,
    name: String,
    email: String,
    role: String,
    departments: String,
    languages: String,
    active: bool,
    totp: bool,
}

#[derive(Debug, Default, Clone)]
struct AgentForm {
    /// The login of the agent being changed; empty for a new one.
    original: String,
    login: String,
    name: String,
    email: String,
    role: String,
    departments: Vec<String>,
    languages: Vec<String>,
}

impl AgentForm {
    fn of(a: &Agent) -> AgentForm {
        AgentForm {
            original: a.login.clone(),
            login: a.login.clone(),
            name: a.name.as_str().to_string(),
            email: a.email.as_ref().map(|e| e.as_str().to_string()).unwrap_or_default(),
            role: a.role.as_str().to_string(),
            departments: a.departments.iter().map(|d| d.as_str().to_string()).collect(),
            languages: a.languages.iter().map(|l| l.as_str().to_string()).collect(),
        }
    }

    fn from_fields(f: &Fields) -> AgentForm {
        let keep = |v: String, max: usize| v.chars().take(max).collect::<String>();
        AgentForm {
            original: keep(f.one("original"), 64),
            login: keep(f.one("login"), 200),
            name: keep(f.one("name"), 1000),
            email: keep(f.one("email"), 1000),
            role: keep(f.one("role"), 20),
            departments: f.all("departments"),
            languages: f.all("languages"),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/admin_agents.html")]
struct AgentsPage {
    page: Page,
    rows: Vec<AgentRow>,
    form: AgentForm,
    editing: bool,
    /// (code, name)
    departments: Vec<(String, String)>,
    languages: Vec<(String, String)>,
    roles: Vec<(String, String)>,
    message: Option<String>,
    /// A password the desk made, shown this once.
    password: Option<String>,
    error: Option<String>,
    errors: Errors,
}

struct Shown {
    form: AgentForm,
    message: Option<String>,
    password: Option<String>,
    error: Option<String>,
    errors: Errors,
}

impl Shown {
    fn form(form: AgentForm) -> Shown {
        Shown { form, message: None, password: None, error: None, errors: Errors::new() }
    }
}

async fn show(s: &AppState, f: Frame, signed: &Signed, shown: Shown, status: StatusCode) -> Response {
    let texts = f.page.texts.clone();
    let departments = department_names(s, &f, false).await;
    let dept_name = |c: &DepartmentCode| departments.iter().find(|(k, _)| k == c.as_str()).map_or_else(|| c.as_str().to_string(), |(_, n)| n.clone());
    let agents = match s.desk.agents_with_totp(&signed.who).await {
        Ok(a) => a,
        Err(e) => return failed(f, "the agents could not be read", &e),
    };
    let rows = agents
        .iter()
        .map(|(a, totp)| AgentRow {
            login: a.login.clone(),
            name: a.name.as_str().to_string(),
            email: a.email.as_ref().map(|e| e.as_str().to_string()).unwrap_or_default(),
            role: texts.t(&format!("role-{}", a.role.as_str())),
            departments: a.departments.iter().map(&dept_name).collect::<Vec<_>>().join(", "),
            languages: a.languages.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", "),
            active: a.active,
            totp: *totp,
        })
        .collect();
    let page = AgentsPage {
        rows,
        editing: !shown.form.original.is_empty(),
        form: shown.form,
        departments,
        languages: language_names(),
        roles: Role::ALL.iter().map(|r| (r.as_str().to_string(), texts.t(&format!("role-{}", r.as_str())))).collect(),
        message: shown.message,
        password: shown.password,
        error: shown.error,
        errors: shown.errors,
        page: f.page,
    };
    render(status, page.render(), f.set_cookies)
}

#[derive(Debug, Deserialize, Default)]
pub struct AgentsQuery {
    pub lang: Option<String>,
    pub edit: Option<String>,
    pub saved: Option<String>,
}

async fn page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<AgentsQuery>) -> Response {
    let (signed, f) = match gate(&s, &headers, q.lang.as_deref(), Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut form = AgentForm { role: "agent".into(), languages: vec!["ru".into()], ..Default::default() };
    if let Some(login) = q.edit.as_deref() {
        let found = s.desk.agents().await.ok().and_then(|all| all.into_iter().find(|a| a.login == login));
        match found {
            Some(a) => form = AgentForm::of(&a),
            None => return not_found_page(f, "agent-not-found", "/ui/admin/agents", "admin-agents-title"),
        }
    }
    let message = q.saved.is_some().then(|| f.page.t("admin-saved"));
    show(&s, f, &signed, Shown { message, ..Shown::form(form) }, StatusCode::OK).await
}

/// The codes the desk answers on this screen, and their messages.
const CODES: &[(&str, &str)] = &[
    ("invalid_login", "agent-bad-login"),
    ("too_short", "agent-password-short"),
    ("unknown_department", "agent-unknown-department"),
    ("last_admin", "agent-last-admin"),
];

async fn save(State(s): State<AppState>, headers: HeaderMap, Form(fields): Form<Fields>) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let form = AgentForm::from_fields(&fields);
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, &signed, Shown { error, ..Shown::form(form) }, StatusCode::FORBIDDEN).await;
    }
    let editing = !form.original.is_empty();
    let mut errors = Errors::new();
    let mut refuse = |field: &str, code: &str| {
        errors.entry(field.to_string()).or_insert_with(|| super::field_message(&f, code, CODES));
    };
    if !editing && let Err(DeskError::Domain(DomainError::Invalid(es))) = ombuds_desk::auth::parse_login(&form.login) {
        es.iter().for_each(|e| refuse("login", e.code));
    }
    let name = PersonName::parse(&form.name).map_err(|e| refuse("name", e.code)).ok();
    let email = match form.email.trim() {
        "" => Some(None),
        raw => EmailAddress::parse(raw).map(Some).map_err(|_| refuse("email", "invalid_email")).ok(),
    };
    let role = Role::parse(&form.role).map_err(|e| refuse("role", e.code)).ok();
    let mut departments = BTreeSet::new();
    for d in &form.departments {
        match DepartmentCode::parse(d) {
            Ok(d) => {
                departments.insert(d);
            }
            Err(_) => refuse("departments", "unknown_department"),
        }
    }
    let mut languages = BTreeSet::new();
    for l in &form.languages {
        match Language::parse(l) {
            Ok(l) => {
                languages.insert(l);
            }
            Err(e) => refuse("languages", e.code),
        }
    }
    let password = fields.one("password");
    let password = (!editing && !password.is_empty()).then_some(password);
    if let Some(p) = &password
        && let Err(DeskError::Domain(DomainError::Invalid(es))) = ombuds_desk::auth::check_password_rules(p)
    {
        es.iter().for_each(|e| refuse("password", e.code));
    }
    let (Some(name), Some(email), Some(role)) = (name, email, role) else {
        return show(&s, f, &signed, Shown { errors, ..Shown::form(form) }, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    if !errors.is_empty() {
        return show(&s, f, &signed, Shown { errors, ..Shown::form(form) }, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let result = if editing {
        let update = AgentUpdate { name: Some(name), email: Some(email), role: Some(role), departments: Some(departments), languages: Some(languages), ..Default::default() };
        s.desk.update_agent(Some(&signed.who), &form.original, update).await.map(|_| None)
    } else {
        let new = NewAgent { login: form.login.clone(), name, email, role, departments, languages, password, skills: Default::default(), capacity: None };
        s.desk.add_agent(Some(&signed.who), new).await.map(|(a, generated)| Some((a.login, generated)))
    };
    match result {
        Ok(None) => secure(Redirect::to("/ui/admin/agents?saved=1").into_response()),
        // A new agent: shown on this answer, not after a redirect, so a made password is
        // never in a URL and is shown once.
        Ok(Some((login, password))) => {
            let message = Some(f.page.texts.with("agent-added", &[("name", login)]));
            let form = AgentForm { role: "agent".into(), languages: vec!["ru".into()], ..Default::default() };
            show(&s, f, &signed, Shown { message, password, ..Shown::form(form) }, StatusCode::OK).await
        }
        Err(DeskError::Domain(DomainError::Invalid(es))) => {
            let errors = desk_errors(&f, es, CODES);
            show(&s, f, &signed, Shown { errors, ..Shown::form(form) }, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(DeskError::Conflict(_)) => {
            let errors = Errors::from([("login".to_string(), f.page.t("agent-login-taken"))]);
            show(&s, f, &signed, Shown { errors, ..Shown::form(form) }, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(DeskError::NotFound(_)) => not_found_page(f, "agent-not-found", "/ui/admin/agents", "admin-agents-title"),
        Err(e) => failed(f, "an agent could not be saved", &e),
    }
}

async fn set_active(State(s): State<AppState>, headers: HeaderMap, Path(login): Path<String>, Form(fields): Form<Fields>) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let blank = AgentForm { role: "agent".into(), ..Default::default() };
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, &signed, Shown { error, ..Shown::form(blank) }, StatusCode::FORBIDDEN).await;
    }
    let active = fields.one("active") == "1";
    match s.desk.set_agent_active(Some(&signed.who), &login, active).await {
        Ok(_) => secure(Redirect::to("/ui/admin/agents?saved=1").into_response()),
        Err(DeskError::Domain(DomainError::Invalid(es))) => {
            let error = es.first().map(|e| super::field_message(&f, e.code, CODES));
            show(&s, f, &signed, Shown { error, ..Shown::form(blank) }, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(DeskError::NotFound(_)) => not_found_page(f, "agent-not-found", "/ui/admin/agents", "admin-agents-title"),
        Err(e) => failed(f, "an agent could not be enabled or disabled", &e),
    }
}
