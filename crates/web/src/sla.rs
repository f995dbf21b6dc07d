//! The SLA API: the settings in force and the at-risk list.

use crate::AppState;
use crate::extract::Auth;
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ombuds_core::sla::{Risk, SlaSpec};
use serde::Deserialize;

/// The SLA settings in force (calendars, policies, warning share, dispute weeks): `version` 0
/// when they come from the configuration's `[sla]`, else the saved version (also the `ETag`).
/// With `Accept: application/toml` or `?format=toml`, the TOML `PUT` takes. Supervisors and
/// administrators.
#[utoipa::path(get, path = "/api/v1/sla", tag = "sla",
    params(("format" = Option<String>, Query, description = "json (default) or toml")),
    responses((status = 200, description = "version, saved_by, saved_at, spec"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["supervisor"])))]
pub async fn settings(State(s): State<AppState>, Auth(who): Auth, headers: HeaderMap, Query(q): Query<crate::routing::RulesQuery>) -> ApiResult<Response> {
    let view = s.desk.sla_view(&who)?;
    let toml = crate::routing::wants_toml(&headers, q.format.as_deref())?;
    let mut res = if toml {
        let body = format!("# ombuds SLA settings, version {}\n\n{}", view.version, view.spec.to_toml());
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/toml; charset=utf-8"))], body).into_response()
    } else {
        Json(&view).into_response()
    };
    res.headers_mut().insert(header::ETAG, crate::routing::etag(view.version));
    Ok(res)
}

/// Replaces the SLA settings (administrators), as JSON or TOML (`Content-Type:
/// application/toml`). They are checked whole: any mistake (an unknown department, a calendar
/// without working hours, a policy without targets) is a 422 naming the field, and nothing is
/// saved. `If-Match: "<version>"` refuses (409) a save that raced another one. Saved settings
/// win over the configuration's `[sla]` and reach every node at once.
#[utoipa::path(put, path = "/api/v1/sla", tag = "sla",
    request_body(content = String, description = "The SLA settings as JSON or TOML", content_type = "application/toml"),
    responses((status = 200, description = "The saved settings and their version"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["admin"])))]
pub async fn put_settings(State(s): State<AppState>, Auth(who): Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let spec = crate::routing::parse_settings(&headers, &body, ("settings", "sla", "unreadable_settings"), SlaSpec::from_toml, SlaSpec::from_json)?;
    let expected = crate::routing::if_match(&headers)?;
    let view = s.desk.save_sla(&who, spec, expected).await?;
    let mut res = Json(&view).into_response();
    res.headers_mut().insert(header::ETAG, crate::routing::etag(view.version));
    Ok(res)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtRiskQuery {
    /// Also list complaints with less than this many minutes left (default 120).
    pub near_minutes: Option<u32>,
    /// At most this many (1–500, default 100).
    pub limit: Option<usize>,
}

/// Complaints predicted to miss their deadline at their department's current pace (or within
/// `near_minutes` of it, or overdue), most urgent first, among those the caller may see.
#[utoipa::path(get, path = "/api/v1/sla/at-risk", tag = "sla",
    params(("near_minutes" = Option<u32>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, description = "reference, department, clock, due, remaining (s), position, pace_per_hour, expected_at, predicted_breach, why"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:read"])))]
pub async fn at_risk(State(s): State<AppState>, Auth(who): Auth, q: Result<Query<AtRiskQuery>, axum::extract::rejection::QueryRejection>) -> ApiResult<Json<Vec<Risk>>> {
    let Query(q) = q.map_err(|e| Problem::new("bad_request", e.body_text()))?;
    let near = q.near_minutes.unwrap_or(120);
    let limit = q.limit.unwrap_or(100);
    if near > 7 * 24 * 60 {
        return Err(Problem::invalid(vec![ombuds_core::FieldError::new("near_minutes", "too_large", "at most 10080 (a week)")]).into());
    }
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid(vec![ombuds_core::FieldError::new("limit", "out_of_range", "between 1 and 500")]).into());
    }
    Ok(Json(s.desk.at_risk(&who, jiff::SignedDuration::from_mins(i64::from(near)), limit).await?))
}
