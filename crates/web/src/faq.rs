//! The FAQ API: anyone reads and searches published articles and says whether one helped;
//! supervisors and administrators write them.

use crate::AppState;
use crate::extract::{ApiJson, Auth};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ombuds_core::faq::FaqArticle;
use ombuds_core::*;
use ombuds_desk::faq::FaqDraft;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaqQuery {
    /// `ru`, `kk` or `en` (default `ru`).
    pub lang: Option<String>,
    /// Words to search for; without it, every published article of the language.
    pub q: Option<String>,
    pub limit: Option<usize>,
}

/// Published articles of a language, or those matching `q`, best first. No sign-in needed.
#[utoipa::path(get, path = "/api/v1/faq", tag = "faq",
    params(("lang" = Option<String>, Query), ("q" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, description = "Articles"), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list(State(s): State<AppState>, q: Result<Query<FaqQuery>, axum::extract::rejection::QueryRejection>) -> ApiResult<Json<Vec<FaqArticle>>> {
    let Query(q) = q.map_err(|e| Problem::new("bad_request", e.body_text()))?;
    let lang = match q.lang.as_deref() {
        None => Language::Ru,
        Some(l) => Language::parse(l).map_err(|e| Problem::invalid(vec![FieldError::new("lang", e.code, e.message)]))?,
    };
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(Problem::invalid(vec![FieldError::new("limit", "out_of_range", "between 1 and 100")]).into());
    }
    Ok(Json(match q.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(query) => s.desk.faq_search(lang, &query.chars().take(200).collect::<String>(), limit).await?,
        None => s.desk.faq_published(lang).await?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleRequest {
    pub language: Option<String>,
    pub category: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub published: Option<bool>,
}

fn draft(id: Option<uuid::Uuid>, b: &ArticleRequest) -> Result<FaqDraft, Problem> {
    let mut errors = vec![];
    let mut req = |field: &str, v: &Option<String>| -> Option<String> {
        match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => Some(v.to_string()),
            None => {
                errors.push(FieldError::new(field, "required", "is required"));
                None
            }
        }
    };
    let (language, category, title, body) = (req("language", &b.language), req("category", &b.category), req("title", &b.title), req("body", &b.body));
    let mut parse = |field: &str, r: Result<(), FieldError>| {
        if let Err(e) = r {
            errors.push(FieldError::new(field, e.code, e.message));
        }
    };
    let language = language.and_then(|v| Language::parse(&v).map_err(|e| parse("language", Err(e))).ok());
    let category = category.and_then(|v| Category::parse(&v).map_err(|e| parse("category", Err(e))).ok());
    let title = title.and_then(|v| Subject::parse(&v).map_err(|e| parse("title", Err(e))).ok());
    let body = body.and_then(|v| Body::parse(&v).map_err(|e| parse("body", Err(e))).ok());
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    Ok(FaqDraft {
        id,
        language: language.expect("checked"),
        category: category.expect("checked"),
        title: title.expect("checked"),
        body: body.expect("checked"),
        published: b.published.unwrap_or(true),
    })
}

/// Writes a new article (supervisors and administrators).
#[utoipa::path(post, path = "/api/v1/faq", tag = "faq", request_body(content = String, content_type = "application/json"),
    responses((status = 201, description = "The article"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["supervisor"])))]
pub async fn create(State(s): State<AppState>, Auth(who): Auth, ApiJson(b): ApiJson<ArticleRequest>) -> ApiResult<(StatusCode, Json<FaqArticle>)> {
    who.require_supervisor()?;
    Ok((StatusCode::CREATED, Json(s.desk.save_faq(&who, draft(None, &b)?).await?)))
}

/// Replaces an article's text, language, category or state; its votes stay.
#[utoipa::path(put, path = "/api/v1/faq/{id}", tag = "faq", params(("id" = String, Path)), request_body(content = String, content_type = "application/json"),
    responses((status = 200, description = "The article"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["supervisor"])))]
pub async fn update(State(s): State<AppState>, Auth(who): Auth, Path(id): Path<String>, ApiJson(b): ApiJson<ArticleRequest>) -> ApiResult<Json<FaqArticle>> {
    who.require_supervisor()?;
    let id = id.parse::<uuid::Uuid>().map_err(|_| Problem::new("not_found", "no such article"))?;
    Ok(Json(s.desk.save_faq(&who, draft(Some(id), &b)?).await?))
}

/// Every article, drafts included (supervisors and administrators).
#[utoipa::path(get, path = "/api/v1/faq/all", tag = "faq", responses((status = 200, description = "Articles")), security(("bearer" = ["supervisor"])))]
pub async fn all(State(s): State<AppState>, Auth(who): Auth) -> ApiResult<Json<Vec<FaqArticle>>> {
    Ok(Json(s.desk.faq_all(&who).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    pub helpful: Option<bool>,
}

/// "Was this helpful?" No sign-in needed.
#[utoipa::path(post, path = "/api/v1/faq/{id}/feedback", tag = "faq", params(("id" = String, Path)), request_body(content = String, content_type = "application/json"),
    responses((status = 204, description = "Counted"), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn feedback(State(s): State<AppState>, crate::extract::ClientIp(client): crate::extract::ClientIp, Path(id): Path<String>, ApiJson(b): ApiJson<FeedbackRequest>) -> ApiResult<StatusCode> {
    let helpful = b.helpful.ok_or_else(|| Problem::invalid(vec![FieldError::new("helpful", "required", "true or false")]))?;
    let id = id.parse::<uuid::Uuid>().map_err(|_| Problem::new("not_found", "no such article"))?;
    s.desk.faq_vote(id, helpful, client).await?;
    Ok(StatusCode::NO_CONTENT)
}
