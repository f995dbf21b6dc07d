//! Request extractors whose rejections are problem documents.

use crate::AppState;
use crate::problem::{ApiError, Problem};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use ombuds_core::Principal;
use serde::de::DeserializeOwned;

/// JSON body: 415 without an `application/json` content type, 413 over the body limit,
/// 400 when it is not JSON, 422 when it is JSON of the wrong shape. An empty body reads as
/// `{}`, so commands without fields need no body.
pub struct ApiJson<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json_type = is_json(req.headers());
        let declared_len = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new("payload_too_large", "the request body is larger than this server accepts")
            } else {
                Problem::new("bad_request", format!("cannot read the request body: {e}"))
            }
        })?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        if !json_type && (!bytes.is_empty() || declared_len.unwrap_or(0) != 0) {
            return Err(Problem::new("unsupported_media_type", "send the body as application/json").into());
        }
        match serde_json::from_slice::<T>(body) {
            Ok(v) => Ok(ApiJson(v)),
            Err(e) if e.is_data() => Err(Problem::new("validation_failed", e.to_string()).into()),
            Err(e) => Err(Problem::new("malformed_json", e.to_string()).into()),
        }
    }
}

/// The authenticated caller, from `Authorization: Bearer …`.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = bearer(&parts.headers).ok_or_else(|| Problem::new("unauthorized", "send Authorization: Bearer <session or API token>"))?;
        Ok(Auth(state.desk.authenticate(bearer).await?))
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get("idempotency-key") else { return Ok(IdempotencyKey(None)) };
        let ok = v.to_str().ok().filter(|s| (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()));
        match ok {
            Some(s) => Ok(IdempotencyKey(Some(s.to_string()))),
            None => Err(Problem::new("bad_request", "Idempotency-Key must be 1 to 255 visible ASCII characters").into()),
        }
    }
}
