//! Departments and their calendars (administrators): the list with each department's calendar,
//! adding a department, renaming one in the three languages, (de)activating it, and editing its
//! working hours, holidays and time zone. Calendars are part of the SLA settings: a calendar is
//! saved as a new version of them, guarded by the version the page was shown with.

use super::{Errors, Fields, Need, desk_errors, failed, gate};
use crate::AppState;
use crate::ui::{Frame, Page, Signed, not_found_page, render, secure};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ombuds_core::sla::CalendarSpec;
use ombuds_core::*;
use ombuds_desk::DeskError;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/admin/departments", get(page).post(save))
        .route("/ui/admin/departments/{code}/active", post(set_active))
        .route("/ui/admin/departments/{code}/calendar", post(save_calendar))
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

struct DepartmentRow {
    code: String,
    name_ru: String,
    name_kk: String,
    name_en: String,
    active: bool,
    calendar: String,
}

#[derive(Debug, Default, Clone)]
struct DepartmentForm {
    /// The code of the department being changed; empty for a new one.
    original: String,
    code: String,
    name_ru: String,
    name_kk: String,
    name_en: String,
}

#[derive(Debug, Default, Clone)]
struct CalendarForm {
    version: String,
    own: bool,
    timezone: String,
    always_open: bool,
    /// (day, its name, intervals as typed)
    hours: Vec<(String, String, String)>,
    holidays: String,
}

impl CalendarForm {
    fn of(f: &Frame, version: i64, spec: Option<&CalendarSpec>) -> CalendarForm {
        let own = spec.is_some();
        let default = CalendarSpec::default();
        let spec = spec.unwrap_or(&default);
        CalendarForm {
            version: version.to_string(),
            own,
            timezone: spec.timezone.clone(),
            always_open: spec.always_open,
            hours: DAYS.iter().map(|d| (d.to_string(), f.page.t(&format!("day-{d}")), spec.hours.get(*d).map(|h| h.join(", ")).unwrap_or_default())).collect(),
            holidays: spec.holidays.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"),
        }
    }

    fn from_fields(f: &Frame, fields: &Fields) -> CalendarForm {
        let keep = |v: String| v.chars().take(2000).collect::<String>();
        CalendarForm {
            version: keep(fields.one("version")),
            own: !fields.one("own").is_empty(),
            timezone: keep(fields.one("timezone")),
            always_open: !fields.one("always_open").is_empty(),
            hours: DAYS.iter().map(|d| (d.to_string(), f.page.t(&format!("day-{d}")), keep(fields.one(&format!("hours_{d}"))))).collect(),
            holidays: fields.one("holidays").chars().take(20_000).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/admin_departments.html")]
struct DepartmentsPage {
    page: Page,
    rows: Vec<DepartmentRow>,
    form: DepartmentForm,
    editing: bool,
    /// The calendar of the department being changed.
    calendar: Option<CalendarForm>,
    message: Option<String>,
    error: Option<String>,
    errors: Errors,
}

struct Shown {
    form: DepartmentForm,
    calendar: Option<CalendarForm>,
    message: Option<String>,
    error: Option<String>,
    errors: Errors,
}

impl Shown {
    fn form(form: DepartmentForm) -> Shown {
        Shown { form, calendar: None, message: None, error: None, errors: Errors::new() }
    }
}

fn calendar_summary(f: &Frame, c: Option<&CalendarSpec>) -> String {
    let Some(c) = c else { return f.page.t("calendar-common") };
    let mut parts = vec![c.timezone.clone()];
    if c.always_open {
        parts.push(f.page.t("calendar-around-the-clock"));
    } else {
        for d in DAYS {
            if let Some(h) = c.hours.get(d).filter(|h| !h.is_empty()) {
                parts.push(format!("{d} {}", h.join(", ")));
            }
        }
    }
    if !c.holidays.is_empty() {
        parts.push(format!("{}: {}", f.page.t("calendar-holidays"), c.holidays.len()));
    }
    parts.join("; ")
}

async fn show(s: &AppState, f: Frame, signed: &Signed, shown: Shown, status: StatusCode) -> Response {
    let departments = match s.desk.departments().await {
        Ok(d) => d,
        Err(e) => return failed(f, "the departments could not be read", &e),
    };
    let sla = match s.desk.sla_view(&signed.who) {
        Ok(v) => v,
        Err(e) => return failed(f, "the SLA settings could not be read", &e),
    };
    let rows = departments
        .iter()
        .map(|d| DepartmentRow {
            code: d.code.as_str().to_string(),
            name_ru: d.name_ru.clone(),
            name_kk: d.name_kk.clone(),
            name_en: d.name_en.clone(),
            active: d.active,
            calendar: calendar_summary(&f, sla.spec.calendars.get(d.code.as_str())),
        })
        .collect();
    let editing = !shown.form.original.is_empty();
    let calendar = match (editing, shown.calendar) {
        (_, Some(c)) => Some(c),
        (true, None) => Some(CalendarForm::of(&f, sla.version, sla.spec.calendars.get(shown.form.original.as_str()))),
        (false, None) => None,
    };
    let page = DepartmentsPage { rows, form: shown.form, editing, calendar, message: shown.message, error: shown.error, errors: shown.errors, page: f.page };
    render(status, page.render(), f.set_cookies)
}

#[derive(Debug, Deserialize, Default)]
pub struct DepartmentsQuery {
    pub lang: Option<String>,
    pub edit: Option<String>,
    pub saved: Option<String>,
}

async fn page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<DepartmentsQuery>) -> Response {
    let (signed, f) = match gate(&s, &headers, q.lang.as_deref(), Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut form = DepartmentForm::default();
    if let Some(code) = q.edit.as_deref() {
        match s.desk.departments().await.ok().and_then(|all| all.iter().find(|d| d.code.as_str() == code).cloned()) {
            Some(d) => {
                form = DepartmentForm {
                    original: d.code.as_str().to_string(),
                    code: d.code.as_str().to_string(),
                    name_ru: d.name_ru,
                    name_kk: d.name_kk,
                    name_en: d.name_en,
                }
            }
            None => return not_found_page(f, "department-not-found", "/ui/admin/departments", "admin-departments-title"),
        }
    }
    let message = q.saved.is_some().then(|| f.page.t("admin-saved"));
    show(&s, f, &signed, Shown { message, ..Shown::form(form) }, StatusCode::OK).await
}

const CODES: &[(&str, &str)] = &[("taken", "department-code-taken"), ("invalid_slug", "department-bad-code")];

async fn save(State(s): State<AppState>, headers: HeaderMap, Form(fields): Form<Fields>) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let keep = |n: &str| fields.one(n).chars().take(1000).collect::<String>();
    let form = DepartmentForm { original: keep("original"), code: keep("code"), name_ru: keep("name_ru"), name_kk: keep("name_kk"), name_en: keep("name_en") };
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, &signed, Shown { error, ..Shown::form(form) }, StatusCode::FORBIDDEN).await;
    }
    let editing = !form.original.is_empty();
    let existing = if editing {
        match s.desk.departments().await.ok().and_then(|all| all.iter().find(|d| d.code.as_str() == form.original).cloned()) {
            Some(d) => Some(d),
            None => return not_found_page(f, "department-not-found", "/ui/admin/departments", "admin-departments-title"),
        }
    } else {
        None
    };
    let code = match &existing {
        Some(d) => Ok(d.code.clone()),
        None => DepartmentCode::parse(&form.code),
    };
    let code = match code {
        Ok(c) => c,
        Err(e) => {
            // The names are checked too, so every mistake shows at once.
            let mut errors = Errors::from([("code".to_string(), super::field_message(&f, e.code, CODES))]);
            let probe = Department { code: DepartmentCode::parse("probe").expect("static"), name_ru: form.name_ru.clone(), name_kk: form.name_kk.clone(), name_en: form.name_en.clone(), active: true };
            if let Err(DeskError::Domain(DomainError::Invalid(es))) = ombuds_desk::Desk::check_department(&probe) {
                errors.extend(desk_errors(&f, es, CODES));
            }
            return show(&s, f, &signed, Shown { errors, ..Shown::form(form) }, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let d = Department { code, name_ru: form.name_ru.clone(), name_kk: form.name_kk.clone(), name_en: form.name_en.clone(), active: existing.as_ref().is_none_or(|d| d.active) };
    let result = if editing { s.desk.upsert_department(Some(&signed.who), d).await } else { s.desk.add_department(&signed.who, d).await };
    match result {
        Ok(()) => secure(Redirect::to("/ui/admin/departments?saved=1").into_response()),
        Err(DeskError::Domain(DomainError::Invalid(es))) => {
            let errors = desk_errors(&f, es, CODES);
            show(&s, f, &signed, Shown { errors, ..Shown::form(form) }, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => failed(f, "a department could not be saved", &e),
    }
}

async fn set_active(State(s): State<AppState>, headers: HeaderMap, Path(code): Path<String>, Form(fields): Form<Fields>) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        return show(&s, f, &signed, Shown { error, ..Shown::form(DepartmentForm::default()) }, StatusCode::FORBIDDEN).await;
    }
    let Some(mut d) = s.desk.departments().await.ok().and_then(|all| all.iter().find(|d| d.code.as_str() == code).cloned()) else {
        return not_found_page(f, "department-not-found", "/ui/admin/departments", "admin-departments-title");
    };
    d.active = fields.one("active") == "1";
    match s.desk.upsert_department(Some(&signed.who), d).await {
        Ok(()) => secure(Redirect::to("/ui/admin/departments?saved=1").into_response()),
        Err(e) => failed(f, "a department could not be (de)activated", &e),
    }
}

/// The calendar's field a core error names (`calendars.payments.hours.mon` → `hours_mon`), and
/// the message for it.
fn calendar_error(f: &Frame, field: &str, form: &CalendarForm) -> (String, String) {
    let rest = field.splitn(3, '.').nth(2).unwrap_or(field);
    match rest.split_once('.') {
        Some(("hours", day)) => (format!("hours_{day}"), f.page.t("calendar-bad-hours")),
        _ if rest == "timezone" => ("timezone".into(), f.page.t("calendar-bad-timezone")),
        _ if rest == "hours" && form.always_open => ("hours".into(), f.page.t("calendar-hours-and-always")),
        _ if rest == "hours" => ("hours".into(), f.page.t("calendar-no-hours")),
        _ => ("calendar".into(), f.page.t("field-invalid")),
    }
}

async fn save_calendar(State(s): State<AppState>, headers: HeaderMap, Path(code): Path<String>, Form(fields): Form<Fields>) -> Response {
    let (signed, f) = match gate(&s, &headers, None, Need::Admin).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(d) = s.desk.departments().await.ok().and_then(|all| all.iter().find(|d| d.code.as_str() == code).cloned()) else {
        return not_found_page(f, "department-not-found", "/ui/admin/departments", "admin-departments-title");
    };
    let form = DepartmentForm { original: code.clone(), code: code.clone(), name_ru: d.name_ru, name_kk: d.name_kk, name_en: d.name_en };
    let calendar = CalendarForm::from_fields(&f, &fields);
    let again = |f: Frame, calendar: CalendarForm, error: Option<String>, errors: Errors, status: StatusCode| {
        let form = form.clone();
        let (s, signed) = (&s, &signed);
        async move { show(s, f, signed, Shown { form, calendar: Some(calendar), message: None, error, errors }, status).await }
    };
    if !fields.csrf_ok(&headers) {
        let error = Some(f.page.t("csrf-failed"));
        return again(f, calendar, error, Errors::new(), StatusCode::FORBIDDEN).await;
    }
    let mut errors = Errors::new();
    let mut holidays = vec![];
    for raw in calendar.holidays.split(['\n', ',']).map(str::trim).filter(|l| !l.is_empty()) {
        match raw.parse::<jiff::civil::Date>() {
            Ok(d) => holidays.push(d),
            Err(_) => {
                errors.insert("holidays".into(), f.page.t("calendar-bad-holiday"));
            }
        }
    }
    let Ok(version) = calendar.version.trim().parse::<i64>() else {
        let error = Some(f.page.t("settings-stale"));
        return again(f, calendar, error, errors, StatusCode::CONFLICT).await;
    };
    let spec = CalendarSpec {
        timezone: calendar.timezone.trim().to_string(),
        always_open: calendar.always_open,
        hours: calendar
            .hours
            .iter()
            .filter(|(_, _, v)| !v.trim().is_empty())
            .map(|(d, _, v)| (d.clone(), v.split(',').map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect()))
            .collect(),
        holidays,
    };
    let mut sla = match s.desk.sla_view(&signed.who) {
        Ok(v) => v.spec,
        Err(e) => return failed(f, "the SLA settings could not be read", &e),
    };
    if calendar.own {
        sla.calendars.insert(code.clone(), spec);
    } else {
        sla.calendars.remove(&code);
    }
    let result = if errors.is_empty() {
        s.desk.save_sla(&signed.who, sla, Some(version)).await.map(|_| ())
    } else {
        // A date did not read: the rest is checked too, so every mistake shows at once.
        match s.desk.check_sla_settings(&signed.who, &sla).await {
            Ok(()) => Err(DeskError::Domain(DomainError::Invalid(vec![]))),
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(_) => secure(Redirect::to(&format!("/ui/admin/departments?edit={code}&saved=1")).into_response()),
        Err(DeskError::Domain(DomainError::Invalid(es))) => {
            for e in es {
                let (field, message) = calendar_error(&f, &e.field, &calendar);
                errors.entry(field).or_insert(message);
            }
            again(f, calendar, None, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(DeskError::Conflict(_)) => {
            let error = Some(f.page.t("settings-stale"));
            again(f, calendar, error, Errors::new(), StatusCode::CONFLICT).await
        }
        Err(e) => failed(f, "a calendar could not be saved", &e),
    }
}
