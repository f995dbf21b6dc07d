//! RFC 9457 problem details. One table maps every error code to its HTTP status and title;
//! the `type` is `urn:ombuds:problem:<code>` and never changes once published.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ombuds_core::{DomainError, FieldError};
use ombuds_desk::DeskError;
use serde::Serialize;

/// The stable error codes of the API, with their status and title.
pub const CODES: &[(&str, u16, &str)] = &[
    ("malformed_json", 400, "The request body is not valid JSON"),
    ("bad_request", 400, "The request is malformed"),
    ("unauthorized", 401, "Authentication required"),
    ("invalid_identity", 401, "The signed player identity is not valid"),
    ("code_required", 401, "The code from the authenticator app is required"),
    ("forbidden", 403, "Not allowed"),
    ("not_found", 404, "Not found"),
    ("method_not_allowed", 405, "Method not allowed"),
    ("illegal_transition", 409, "The complaint's status does not allow this"),
    ("conflict", 409, "Conflict with the current state"),
    ("chat_ended", 409, "The chat has ended"),
    ("already_taken", 409, "Another agent took this chat first"),
    ("chat_not_active", 409, "The chat is not held by an agent"),
    ("payload_too_large", 413, "The request body is too large"),
    ("unsupported_media_type", 415, "The request body's media type is not accepted here"),
    ("upgrade_required", 426, "This endpoint speaks WebSocket"),
    ("request_header_fields_too_large", 431, "The request headers are too large"),
    ("validation_failed", 422, "Some fields are invalid"),
    ("too_many_attempts", 429, "Too many failed sign-ins"),
    ("rate_limited", 429, "Too many requests"),
    ("idempotency_key_reused", 422, "The Idempotency-Key was used for another request"),
    ("contention", 503, "Too much contention; retry"),
    ("unavailable", 503, "The service is unavailable"),
    ("internal", 500, "Internal error"),
];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The stable machine-readable code (the last part of `type`).
    pub code: &'static str,
    /// Field-level errors for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before trying again (`Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Problem {
        let (_, status, title) = CODES.iter().find(|(c, _, _)| *c == code).copied().unwrap_or(("internal", 500, "Internal error"));
        Problem { type_: format!("urn:ombuds:problem:{code}"), title, status, detail: detail.into(), code, errors: vec![], retry_after: None }
    }

    pub fn invalid(errors: Vec<FieldError>) -> Problem {
        let detail = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        Problem { errors, ..Problem::new("validation_failed", detail) }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, axum::Json(&self)).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"ombuds\""));
        }
        res
    }
}

/// Errors of handlers.
#[derive(Debug)]
pub struct ApiError(pub Problem);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError(p)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError(match e {
            DomainError::Invalid(errors) => Problem::invalid(errors),
            e => Problem::new(e.code(), e.to_string()),
        })
    }
}

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::Domain(d) => d.into(),
            DeskError::Store(inner) => {
                // Opaque to the caller; the cause chain goes to the log.
                tracing::error!(error = ?inner, "store failure");
                ApiError(Problem::new("internal", "something went wrong on our side; it was logged"))
            }
            DeskError::TooManyAttempts { until } => {
                let secs = until.duration_since(ombuds_core::now()).as_secs().clamp(1, i64::from(u32::MAX)) as u32;
                ApiError(Problem { retry_after: Some(secs), ..Problem::new("too_many_attempts", format!("too many failed sign-ins; try again in {secs} s")) })
            }
            DeskError::RateLimited { retry_after } => {
                let secs = retry_after.as_secs().clamp(1, u64::from(u32::MAX)) as u32;
                ApiError(Problem { retry_after: Some(secs), ..Problem::new("rate_limited", format!("too many requests; try again in {secs} s")) })
            }
            e => ApiError(Problem::new(e.code(), e.to_string())),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The problem a bare error answer stands for: the code of its status in [`CODES`] (the
/// first one listed for it), or `bad_request` / `internal` with the status kept.
pub fn for_status(status: StatusCode, detail: impl Into<String>) -> Problem {
    let code = match status.as_u16() {
        400 => Some("bad_request"),
        401 => Some("unauthorized"),
        403 => Some("forbidden"),
        409 => Some("conflict"),
        422 => Some("validation_failed"),
        503 => Some("unavailable"),
        n => CODES.iter().find(|(_, s, _)| *s == n).map(|(c, _, _)| *c),
    };
    match code {
        Some(c) => Problem::new(c, detail),
        None if status.is_server_error() => Problem { status: status.as_u16(), ..Problem::new("internal", detail) },
        None => Problem { status: status.as_u16(), ..Problem::new("bad_request", detail) },
    }
}

/// Turns every error answer that is not already a problem document into one: axum's own
/// rejections (a path that is not UTF-8 or not the type it should be, a duplicated or
/// malformed query parameter, an oversized or malformed form, multipart without a boundary,
/// a WebSocket request without its headers…) answer `text/plain`; here they become RFC 9457
/// documents with the stable type of their status, the rejection's text as the detail.
/// Pages (`text/html`) and every other typed answer pass as they are.
pub async fn rejections_as_problems(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let plain = match res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(ct) => ct.trim_start().to_ascii_lowercase().starts_with("text/plain"),
    };
    if !plain {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let mut detail: String = String::from_utf8_lossy(&text).trim().chars().take(500).collect();
    if detail.is_empty() {
        detail = status.canonical_reason().unwrap_or("error").to_string();
    }
    let mut out = for_status(status, detail).into_response();
    // Keep what the original said beyond its body (Allow, Retry-After, WWW-Authenticate…).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH && !out.headers().contains_key(name) {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_and_desk_codes_are_covered() {
        let mut seen = std::collections::HashSet::new();
        for (c, s, _) in CODES {
            assert!(seen.insert(*c), "{c} twice");
            assert!((400..600).contains(s));
        }
        for c in ["validation_failed", "illegal_transition", "forbidden", "not_found", "unauthorized", "conflict", "idempotency_key_reused", "contention", "internal"] {
            assert!(seen.contains(c), "{c} missing");
        }
    }

    #[test]
    fn problem_body_is_stable() {
        let p = Problem::new("not_found", "complaint not found");
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"type": "urn:ombuds:problem:not_found", "title": "Not found", "status": 404, "detail": "complaint not found", "code": "not_found"})
        );
    }
}
