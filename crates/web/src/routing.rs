//! The routing API: the rule set (read, replace as JSON or TOML), the dry run, and training
//! the classifier. Rules are checked by the desk when saved; this module only translates.

use crate::AppState;
use crate::extract::Auth;
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ombuds_core::rules::RuleSetSpec;
use ombuds_core::*;
use ombuds_desk::routing::{DryRun, DryRunInput, RulesView, TrainReport};
use serde::Deserialize;
use std::collections::BTreeSet;

const TOML: &str = "application/toml";

pub(crate) fn media_type(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

pub(crate) fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesQuery {
    /// `json` (default) or `toml`.
    pub format: Option<String>,
}

/// The rule set in force, as JSON or, with `Accept: application/toml` or `?format=toml`, as the
/// TOML file `PUT` takes. The `ETag` is its version: send it back as `If-Match` when saving.
#[utoipa::path(get, path = "/api/v1/routing/rules", tag = "routing",
    params(("format" = Option<String>, Query, description = "json (default) or toml")),
    responses((status = 200, description = "The rule set in force and its version"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["supervisor"])))]
pub async fn get_rules(State(s): State<AppState>, Auth(who): Auth, headers: HeaderMap, Query(q): Query<RulesQuery>) -> ApiResult<Response> {
    let toml = wants_toml(&headers, q.format.as_deref())?;
    let view = s.desk.routing_rules(&who).await?;
    let mut res = if toml {
        let body = format!(
            "# ombuds routing rules, version {}{}\n\n{}",
            view.version,
            view.saved_by.as_ref().map(|b| format!(", saved by {b}")).unwrap_or_default(),
            view.spec.to_toml()
        );
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/toml; charset=utf-8"))], body).into_response()
    } else {
        Json(view_json(&view)).into_response()
    };
    res.headers_mut().insert(header::ETAG, etag(view.version));
    Ok(res)
}

fn view_json(v: &RulesView) -> serde_json::Value {
    serde_json::to_value(v).expect("serialises")
}

/// Replaces the rule set (administrators): JSON (`{"rule": [...]}`) or a TOML file
/// (`Content-Type: application/toml`). The whole set is checked first; any mistake is a 422
/// naming the rule and field, and nothing is saved. With `If-Match: "<version>"` a save that
/// raced another one is refused with 409.
#[utoipa::path(put, path = "/api/v1/routing/rules", tag = "routing",
    request_body(content = String, description = "The rule set as JSON or TOML", content_type = "application/toml"),
    responses((status = 200, description = "The saved rule set and its new version"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["admin"])))]
pub async fn put_rules(State(s): State<AppState>, Auth(who): Auth, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let spec = parse_settings(&headers, &body, ("rules", "rule", "unreadable_rules"), RuleSetSpec::from_toml, RuleSetSpec::from_json)?;
    let expected = if_match(&headers)?;
    let view = s.desk.save_routing_rules(&who, spec, expected).await?;
    let mut res = Json(view_json(&view)).into_response();
    res.headers_mut().insert(header::ETAG, etag(view.version));
    Ok(res)
}

/// The version an editor started from (`If-Match: "3"`), if given.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<i64>, Problem> {
    match headers.get(header::IF_MATCH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| *v >= 0)
            .map(Some)
            .ok_or_else(|| Problem::new("bad_request", "If-Match must be the version as the ETag gives it, e.g. \"3\"")),
    }
}

/// Settings sent as a file (`what`: "rules", "settings"): TOML with `application/toml` (or
/// `text/toml`), else JSON with `application/json`. A file that does not read as settings is a
/// 422 on `field` with `code`; a body that is not JSON at all is `malformed_json`.
pub(crate) fn parse_settings<T>(
    headers: &HeaderMap,
    body: &[u8],
    (what, field, code): (&str, &str, &'static str),
    from_toml: fn(&str) -> Result<T, ombuds_core::rules::SpecError>,
    from_json: fn(&[u8]) -> Result<T, ombuds_core::rules::SpecError>,
) -> Result<T, Problem> {
    let ct = media_type(headers, header::CONTENT_TYPE);
    let unreadable = |e: ombuds_core::rules::SpecError| Problem::invalid(vec![FieldError::new(field, code, e.0)]);
    if ct == TOML || ct == "text/toml" {
        let text = std::str::from_utf8(body).map_err(|_| Problem::new("bad_request", "the TOML file is not UTF-8"))?;
        from_toml(text).map_err(unreadable)
    } else if ct == "application/json" {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Err(e) => Err(Problem::new("malformed_json", e.to_string())),
            Ok(_) => from_json(body).map_err(unreadable),
        }
    } else {
        Err(Problem::new("unsupported_media_type", format!("send the {what} as application/json or application/toml")))
    }
}

/// Whether a GET asks for TOML: `?format=toml`, or `Accept: application/toml` without a format.
pub(crate) fn wants_toml(headers: &HeaderMap, format: Option<&str>) -> Result<bool, Problem> {
    match format {
        None => Ok(media_type(headers, header::ACCEPT) == TOML),
        Some("toml") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(Problem::new("bad_request", format!("format '{other}' is not one of: json, toml"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub channel: Option<String>,
    pub kind: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    pub segments: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// A draft rule set to try instead of the one in force (nothing is saved).
    pub rules: Option<RuleSetSpec>,
}

/// Which rule would fire for this text and why (every rule's trace), the classifier's
/// suggestion, and where the complaint would go. Supervisors and administrators.
#[utoipa::path(post, path = "/api/v1/routing/dry-run", tag = "routing",
    request_body(content = String, description = "subject, text, channel, kind, language, segments, tags, and optionally a draft `rules` set", content_type = "application/json"),
    responses((status = 200, description = "decision, trace, suggestion, department, routed_by"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["supervisor"])))]
pub async fn dry_run(State(s): State<AppState>, Auth(who): Auth, crate::extract::ApiJson(r): crate::extract::ApiJson<DryRunRequest>) -> ApiResult<Json<DryRun>> {
    let mut errors = vec![];
    let mut word = |field: &str, v: &Option<String>, parse: &dyn Fn(&str) -> Result<(), FieldError>| {
        if let Some(v) = v
            && let Err(e) = parse(v)
        {
            errors.push(FieldError::new(field, e.code, e.message));
        }
    };
    word("channel", &r.channel, &|v| Channel::parse(v).map(|_| ()));
    word("kind", &r.kind, &|v| Kind::parse(v).map(|_| ()));
    word("language", &r.language, &|v| Language::parse(v).map(|_| ()));
    let subject = r.subject.unwrap_or_default();
    let text = r.text.unwrap_or_default();
    if subject.trim().is_empty() && text.trim().is_empty() {
        errors.push(FieldError::new("text", "required", "give a subject or a text to route"));
    }
    if subject.len() + text.len() > 256 * 1024 {
        errors.push(FieldError::new("text", "too_long", "at most 256 KiB of text"));
    }
    let mut tags = BTreeSet::new();
    for (i, t) in r.tags.iter().enumerate() {
        match Tag::parse(t) {
            Ok(t) => {
                tags.insert(t);
            }
            Err(e) => errors.push(FieldError::new(format!("tags[{i}]"), e.code, e.message)),
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors).into());
    }
    let input = DryRunInput {
        channel: r.channel.as_deref().and_then(|v| Channel::parse(v).ok()),
        kind: r.kind.as_deref().and_then(|v| Kind::parse(v).ok()),
        language: r.language.as_deref().and_then(|v| Language::parse(v).ok()),
        subject,
        text,
        segments: r.segments.iter().map(|s| s.trim().to_lowercase()).collect(),
        tags,
    };
    Ok(Json(s.desk.routing_dry_run(&who, input, r.rules).await?))
}

/// Retrains the classifier on the resolved complaints now (administrators); every node uses the
/// new models for the next complaint.
#[utoipa::path(post, path = "/api/v1/routing/train", tag = "routing",
    responses((status = 200, description = "examples, departments, categories, trained"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["admin"])))]
pub async fn train(State(s): State<AppState>, Auth(who): Auth) -> ApiResult<Json<TrainReport>> {
    Ok(Json(s.desk.train(Some(&who)).await?))
}
