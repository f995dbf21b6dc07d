//! The SLA API: the settings in force and the at-risk list.

use crate::AppState;
use crate::extract::Auth;
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::{Query, State};
use ombuds_core::sla::{Risk, SlaSpec};
use serde::Deserialize;

/// The SLA settings in force (calendars, policies, warning share, dispute weeks); they come from
/// the `[sla]` section of the configuration. Supervisors and administrators.
#[utoipa::path(get, path = "/api/v1/sla", tag = "sla",
    responses((status = 200, description = "The SLA settings in force"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn settings(State(s): State<AppState>, Auth(who): Auth) -> ApiResult<Json<SlaSpec>> {
    who.require_supervisor()?;
    Ok(Json(s.desk.sla().spec().clone()))
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
    security(("bearer" = [])))]
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
