//! `/api/v1`: requests are parsed into core types here (collecting every field error at once),
//! then handed to the desk. No SQL, no decisions.

use crate::AppState;
use crate::extract::{ApiJson, Auth, IdempotencyKey};
use crate::problem::{ApiError, ApiResult, Problem};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ombuds_core::*;
use ombuds_desk::{AssigneeFilter, CommandInput, ComplaintFilter, ComplaintView, NewAgent, PageRequest, StoredEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use utoipa::ToSchema;
use uuid::Uuid;

/// Collects field errors while parsing a request.
#[derive(Default)]
struct Fields(Vec<FieldError>);

impl Fields {
    fn req<T>(&mut self, name: &str, v: Option<&str>, parse: impl FnOnce(&str) -> Result<T, FieldError>) -> Option<T> {
        match v {
            None => {
                self.0.push(FieldError::new(name, "required", "is required"));
                None
            }
            Some(s) => self.opt(name, Some(s), parse),
        }
    }
    fn opt<T>(&mut self, name: &str, v: Option<&str>, parse: impl FnOnce(&str) -> Result<T, FieldError>) -> Option<T> {
        match v.map(parse) {
            None => None,
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                self.0.push(e.under(name));
                None
            }
        }
    }
    fn list<T>(&mut self, name: &str, v: &Option<Vec<String>>, parse: impl Fn(&str) -> Result<T, FieldError>) -> Vec<T> {
        let mut out = vec![];
        for (i, s) in v.iter().flatten().enumerate() {
            if let Some(t) = self.opt(&format!("{name}[{i}]"), Some(s), &parse) {
                out.push(t);
            }
        }
        out
    }
    fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(Problem::invalid(self.0).into()) }
    }
}

fn reference(raw: &str) -> ApiResult<ComplaintRef> {
    ComplaintRef::parse(raw).map_err(|e| Problem::new("not_found", format!("no complaint '{raw}': {e}")).into())
}

// ------------------------------------------------------------------ registration

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlayerRequest {
    /// The operator platform's id for the player.
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// Any common format; stored as E.164 (`8 701 …` becomes `+7701…`).
    pub phone: Option<String>,
    /// `ru`, `kk` or `en`.
    pub language: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// `complaint` (default), `feedback`, `question` or `suggestion`.
    pub kind: Option<String>,
    /// `email`, `chat`, `phone`, `web` or `api` (default).
    pub channel: Option<String>,
    pub player: Option<PlayerRequest>,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub language: Option<String>,
    /// Route at once to this department.
    pub department: Option<String>,
    pub category: Option<String>,
    /// `low`, `normal` (default), `high` or `urgent`.
    pub priority: Option<String>,
    pub tags: Option<Vec<String>>,
    /// The player's segments (`vip`, `new`, …) for the routing rules; not stored.
    pub segments: Option<Vec<String>>,
}

fn parse_registration(r: &RegisterRequest) -> ApiResult<Registration> {
    let mut f = Fields::default();
    let kind = f.opt("kind", r.kind.as_deref(), Kind::parse).unwrap_or(Kind::Complaint);
    let channel = f.opt("channel", r.channel.as_deref(), Channel::parse).unwrap_or(Channel::Api);
    let subject = f.req("subject", r.subject.as_deref(), Subject::parse);
    let description = f.req("description", r.description.as_deref(), Body::parse);
    let language = f.opt("language", r.language.as_deref(), Language::parse);
    let department = f.opt("department", r.department.as_deref(), DepartmentCode::parse);
    let category = f.opt("category", r.category.as_deref(), Category::parse);
    let priority = f.opt("priority", r.priority.as_deref(), Priority::parse);
    let tags: BTreeSet<Tag> = f.list("tags", &r.tags, Tag::parse).into_iter().collect();
    let segments: BTreeSet<Tag> = f.list("segments", &r.segments, Tag::parse).into_iter().collect();
    if segments.len() > 20 {
        f.0.push(FieldError::new("segments", "too_many_segments", "at most 20 segments"));
    }
    if tags.len() > ombuds_core::command::MAX_TAGS {
        f.0.push(FieldError::new("tags", "too_many_tags", format!("at most {} tags", ombuds_core::command::MAX_TAGS)));
    }
    let player = match &r.player {
        None => {
            f.0.push(FieldError::new("player", "required", "is required"));
            None
        }
        Some(p) => Some(PlayerContact {
            external_id: f.opt("player.external_id", p.external_id.as_deref(), ExternalPlayerId::parse),
            name: f.opt("player.name", p.name.as_deref(), PersonName::parse),
            email: f.opt("player.email", p.email.as_deref(), EmailAddress::parse),
            phone: f.opt("player.phone", p.phone.as_deref(), PhoneNumber::parse),
            language: f.opt("player.language", p.language.as_deref(), Language::parse),
        }),
    };
    f.finish()?;
    Ok(Registration {
        kind,
        channel,
        player: player.expect("checked"),
        subject: subject.expect("checked"),
        description: description.expect("checked"),
        language,
        department,
        category,
        priority,
        tags,
        segments,
    })
}

/// Register a complaint. Send `Idempotency-Key` to make retries safe: a retried request
/// returns the first result (200, `Idempotent-Replayed: true`), never a duplicate.
#[utoipa::path(post, path = "/api/v1/complaints", tag = "complaints", request_body = RegisterRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = Complaint), (status = 200, description = "Replay of an earlier request", body = Complaint),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:write"])))]
pub async fn register(State(s): State<AppState>, Auth(who): Auth, IdempotencyKey(key): IdempotencyKey, ApiJson(req): ApiJson<RegisterRequest>) -> ApiResult<Response> {
    let reg = parse_registration(&req)?;
    let idem = key.map(|k| {
        let canonical = serde_json::to_vec(&req).expect("serialisable");
        (k, Sha256::digest(&canonical).to_vec())
    });
    let r = s.desk.register(&who, reg, idem).await?;
    let location = format!("/api/v1/complaints/{}", r.complaint.reference);
    let status = if r.replayed { StatusCode::OK } else { StatusCode::CREATED };
    let mut res = (status, Json(r.complaint)).into_response();
    res.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).expect("ascii"));
    if r.replayed {
        res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

// ------------------------------------------------------------------ reads

#[derive(Serialize, ToSchema)]
pub struct ComplaintPage {
    pub items: Vec<Complaint>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// List complaints the caller may see, newest first. Filters: `status` (comma-separated),
/// `department` (or `none`), `assignee` (agent id, `me` or `none`), `channel`, `kind`,
/// `priority`, `player_id`, `escalated`, `sla_breached`, `created_from`/`created_to` (RFC 3339), `q` (words in
/// reference, subject or description), `limit` (1–200, default 50), `cursor`.
#[utoipa::path(get, path = "/api/v1/complaints", tag = "complaints",
    params(("status" = Option<String>, Query), ("department" = Option<String>, Query), ("assignee" = Option<String>, Query),
        ("channel" = Option<String>, Query), ("kind" = Option<String>, Query), ("priority" = Option<String>, Query),
        ("player_id" = Option<String>, Query), ("escalated" = Option<bool>, Query), ("sla_breached" = Option<bool>, Query), ("created_from" = Option<String>, Query),
        ("created_to" = Option<String>, Query), ("q" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ComplaintPage), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:read"])))]
pub async fn list(State(s): State<AppState>, Auth(who): Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<ComplaintPage>> {
    let mut f = Fields::default();
    let mut filter = ComplaintFilter::default();
    let mut page = PageRequest { after: None, limit: 50 };
    let ts = |s: &str| s.parse::<jiff::Timestamp>().map_err(|_| FieldError::new("", "invalid_timestamp", "use RFC 3339, e.g. 2026-11-25T10:00:00Z"));
    let uuid = |s: &str| Uuid::parse_str(s).map_err(|_| FieldError::new("", "invalid_id", "is not a valid id"));
    for (k, raw_v) in &q {
        let v = Some(raw_v.as_str());
        match k.as_str() {
            "status" => {
                let raw: Vec<String> = raw_v.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
                filter.statuses = f.list("status", &Some(raw), Status::parse);
            }
            "department" if v == Some("none") => filter.unrouted = true,
            "department" => filter.department = f.opt(k, v, DepartmentCode::parse),
            "assignee" => {
                filter.assignee = match raw_v.as_str() {
                    "none" => Some(AssigneeFilter::Nobody),
                    "me" => match &who {
                        Principal::Agent(a) => Some(AssigneeFilter::Agent(a.id)),
                        _ => {
                            f.0.push(FieldError::new("assignee", "invalid_value", "'me' needs an agent session"));
                            None
                        }
                    },
                    other => f.opt(k, Some(other), uuid).map(AssigneeFilter::Agent),
                }
            }
            "channel" => filter.channel = f.opt(k, v, Channel::parse),
            "kind" => filter.kind = f.opt(k, v, Kind::parse),
            "priority" => filter.priority = f.opt(k, v, Priority::parse),
            "player_id" => filter.player_id = f.opt(k, v, uuid),
            "escalated" | "sla_breached" => {
                let b = f.opt(k, v, |s| match s {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(FieldError::new("", "invalid_value", "use true or false")),
                });
                if k == "escalated" { filter.escalated = b } else { filter.sla_breached = b }
            }
            "created_from" => filter.created_from = f.opt(k, v, ts),
            "created_to" => filter.created_to = f.opt(k, v, ts),
            "q" => {
                let t = raw_v.trim();
                if t.chars().count() > 200 {
                    f.0.push(FieldError::new("q", "too_long", "at most 200 characters"));
                } else if !t.is_empty() {
                    filter.text = Some(t.to_string());
                }
            }
            "limit" => {
                page.limit = f
                    .opt(k, v, |s| s.parse::<u32>().ok().filter(|n| (1..=200).contains(n)).ok_or_else(|| FieldError::new("", "out_of_range", "use 1 to 200")))
                    .unwrap_or(50)
            }
            "cursor" => page.after = f.opt(k, v, |s| Uuid::parse_str(s).map_err(|_| FieldError::new("", "invalid_cursor", "is not a cursor from a previous page"))),
            other => f.0.push(FieldError::new(other, "unknown_parameter", "is not a filter of this list")),
        }
    }
    f.finish()?;
    let p = s.desk.list(&who, &filter, page).await?;
    Ok(Json(ComplaintPage { items: p.items, next_cursor: p.next.map(|id| id.simple().to_string()) }))
}

#[derive(Serialize, ToSchema)]
pub struct ComplaintDetail {
    #[serde(flatten)]
    pub complaint: Complaint,
    pub player: Player,
    pub messages: Vec<Message>,
    /// What the classifier thinks the complaint is about: `department`, `confidence` (0–1),
    /// `category`, `alternatives`. Null until a model is trained.
    #[schema(value_type = Option<Object>)]
    pub suggestion: Option<ombuds_desk::routing::Suggestion>,
    /// The duplicates merged into this complaint (`id`, `reference`, `subject`, `description`,
    /// `channel`, `created_at`); their later messages are in `messages`.
    #[schema(value_type = Vec<Object>)]
    pub duplicates: Vec<ombuds_desk::merge::Duplicate>,
}

impl From<ComplaintView> for ComplaintDetail {
    fn from(v: ComplaintView) -> Self {
        ComplaintDetail { complaint: v.complaint, player: v.player, messages: v.messages, suggestion: v.suggestion, duplicates: v.duplicates }
    }
}

/// One complaint with its player and message thread. The reference is forgiving: any case,
/// with or without dashes, O for 0 and I/L for 1.
#[utoipa::path(get, path = "/api/v1/complaints/{reference}", tag = "complaints",
    params(("reference" = String, Path)),
    responses((status = 200, body = ComplaintDetail), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:read"])))]
pub async fn get(State(s): State<AppState>, Auth(who): Auth, Path(r): Path<String>) -> ApiResult<Json<ComplaintDetail>> {
    Ok(Json(s.desk.complaint(&who, &reference(&r)?).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct EventEntry {
    pub seq: i64,
    pub id: Uuid,
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    pub actor: Actor,
    pub data: EventData,
    /// This event's link in the hash chain (hex SHA-256).
    pub hash: String,
}

impl From<StoredEvent> for EventEntry {
    fn from(e: StoredEvent) -> Self {
        EventEntry { seq: e.seq, id: e.event.id, at: e.event.at, actor: e.event.actor, data: e.event.data, hash: e.hash }
    }
}

/// The complaint's full history, oldest first.
#[utoipa::path(get, path = "/api/v1/complaints/{reference}/events", tag = "complaints",
    params(("reference" = String, Path)),
    responses((status = 200, body = Vec<EventEntry>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:read"])))]
pub async fn events(State(s): State<AppState>, Auth(who): Auth, Path(r): Path<String>) -> ApiResult<Json<Vec<EventEntry>>> {
    Ok(Json(s.desk.history(&who, &reference(&r)?).await?.into_iter().map(Into::into).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct JobEntry {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    #[schema(value_type = String, format = DateTime)]
    pub run_at: jiff::Timestamp,
    pub last_error: Option<String>,
}

/// Follow-up work for the complaint (acknowledgment, notices) and how it went.
#[utoipa::path(get, path = "/api/v1/complaints/{reference}/jobs", tag = "complaints",
    params(("reference" = String, Path)),
    responses((status = 200, body = Vec<JobEntry>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:read"])))]
pub async fn jobs(State(s): State<AppState>, Auth(who): Auth, Path(r): Path<String>) -> ApiResult<Json<Vec<JobEntry>>> {
    let jobs = s.desk.jobs_of(&who, &reference(&r)?).await?;
    Ok(Json(
        jobs.into_iter()
            .map(|j| JobEntry { id: j.id, kind: j.kind, status: j.status, attempts: j.attempts, run_at: j.run_at, last_error: j.last_error })
            .collect(),
    ))
}

/// One e-mail of a complaint (received or sent), without its bytes.
#[derive(Serialize, ToSchema)]
pub struct MailEntry {
    pub id: Uuid,
    /// The thread message it carried; none for the mail that registered the complaint.
    pub message_id: Option<Uuid>,
    /// `in` (from the player) or `out` (a notice we sent).
    pub direction: String,
    /// Its `Message-ID` header.
    pub header_id: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub size: i64,
    /// Who the sender proved to be, for received mail checked at intake.
    pub auth: Option<MailAuthEntry>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// The SPF, DKIM and DMARC results of a received e-mail (RFC 8601 names: `pass`, `fail`,
/// `softfail`, `neutral`, `none`, `temperror`, `permerror`).
#[derive(Serialize, ToSchema)]
pub struct MailAuthEntry {
    /// Whether the connecting server may send for the `MAIL FROM` domain (`none` for mail
    /// fetched by IMAP).
    pub spf: String,
    /// The best of the message's DKIM signatures.
    pub dkim: String,
    /// Whether the `From` domain is proven: `pass` verified, `fail` likely forged.
    pub dmarc: String,
    /// The `From` domain.
    pub domain: String,
    /// The domain's DMARC policy (`none`, `quarantine`, `reject`), when it publishes one.
    pub policy: Option<String>,
}

/// The complaint's e-mails, oldest first.
#[utoipa::path(get, path = "/api/v1/complaints/{reference}/mails", tag = "complaints",
    params(("reference" = String, Path)),
    responses((status = 200, body = Vec<MailEntry>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:read"])))]
pub async fn mails(State(s): State<AppState>, Auth(who): Auth, Path(r): Path<String>) -> ApiResult<Json<Vec<MailEntry>>> {
    let mails = s.desk.mails_of(&who, &reference(&r)?).await?;
    Ok(Json(
        mails
            .into_iter()
            .map(|m| MailEntry {
                id: m.id,
                message_id: m.message_id,
                direction: match m.direction {
                    ombuds_desk::MailDirection::In => "in".into(),
                    ombuds_desk::MailDirection::Out => "out".into(),
                },
                header_id: m.header_id,
                sender: m.sender,
                recipient: m.recipient,
                subject: m.subject,
                size: m.size,
                auth: m.auth.map(|a| MailAuthEntry {
                    spf: a.spf.as_str().into(),
                    dkim: a.dkim.as_str().into(),
                    dmarc: a.dmarc.as_str().into(),
                    domain: a.domain,
                    policy: a.policy.map(|p| match p {
                        ombuds_desk::DmarcPolicy::None => "none".into(),
                        ombuds_desk::DmarcPolicy::Quarantine => "quarantine".into(),
                        ombuds_desk::DmarcPolicy::Reject => "reject".into(),
                    }),
                }),
                created_at: m.created_at,
            })
            .collect(),
    ))
}

fn uuid_in_path(raw: &str, what: &'static str) -> ApiResult<Uuid> {
    raw.parse().map_err(|_| Problem::new("not_found", format!("no {what} '{raw}'")).into())
}

/// Bytes a browser must save, never render: user-supplied files are served as downloads,
/// sandboxed, with no type sniffing, whatever type they claim.
pub(crate) fn download(bytes: Vec<u8>, content_type: &str, filename: &str) -> Response {
    let safe_type = match content_type {
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "application/pdf" | "text/plain" | "message/rfc822" => content_type,
        _ => "application/octet-stream",
    };
    let ascii: String = filename.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect();
    let encoded: String = filename
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b".-_".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(safe_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    (StatusCode::OK, headers, bytes).into_response()
}

/// The original bytes of a received e-mail (`message/rfc822`), as a download.
#[utoipa::path(get, path = "/api/v1/complaints/{reference}/mails/{id}/raw", tag = "complaints",
    params(("reference" = String, Path), ("id" = Uuid, Path)),
    responses((status = 200, content_type = "message/rfc822", body = Vec<u8>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:read"])))]
pub async fn mail_raw(State(s): State<AppState>, Auth(who): Auth, Path((r, id)): Path<(String, String)>) -> ApiResult<Response> {
    let (info, raw) = s.desk.mail_raw(&who, &reference(&r)?, uuid_in_path(&id, "mail")?).await?;
    Ok(download(raw, "message/rfc822", &format!("{}.eml", info.id)))
}

/// A file that came with the complaint's messages.
#[derive(Serialize, ToSchema)]
pub struct AttachmentEntry {
    pub id: Uuid,
    pub message_id: Option<Uuid>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// The complaint's attachments.
#[utoipa::path(get, path = "/api/v1/complaints/{reference}/attachments", tag = "complaints",
    params(("reference" = String, Path)),
    responses((status = 200, body = Vec<AttachmentEntry>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:read"])))]
pub async fn attachments(State(s): State<AppState>, Auth(who): Auth, Path(r): Path<String>) -> ApiResult<Json<Vec<AttachmentEntry>>> {
    let list = s.desk.attachments_of(&who, &reference(&r)?).await?;
    Ok(Json(
        list.into_iter()
            .map(|a| AttachmentEntry {
                id: a.id,
                message_id: a.message_id,
                filename: a.filename,
                content_type: a.content_type,
                size: a.size,
                sha256: a.sha256,
                created_at: a.created_at,
            })
            .collect(),
    ))
}

/// One attachment's bytes, as a download (never rendered inline).
#[utoipa::path(get, path = "/api/v1/complaints/{reference}/attachments/{id}", tag = "complaints",
    params(("reference" = String, Path), ("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:read"])))]
pub async fn attachment(State(s): State<AppState>, Auth(who): Auth, Path((r, id)): Path<(String, String)>) -> ApiResult<Response> {
    let (info, data) = s.desk.attachment(&who, &reference(&r)?, uuid_in_path(&id, "attachment")?).await?;
    Ok(download(data, &info.content_type, &info.filename))
}

// ------------------------------------------------------------------ commands

/// A command's answer: the complaint after it, for a caller who may read it; `204 No Content`
/// for a `complaints:write` token without `complaints:read` (writing does not open reading).
async fn apply(s: &AppState, who: &Principal, r: &str, input: CommandInput) -> ApiResult<Response> {
    let r = reference(r)?;
    let c = s.desk.apply(who, &r, input).await?;
    Ok(if who.may_view(&c) { Json(c).into_response() } else { StatusCode::NO_CONTENT.into_response() })
}

macro_rules! command {
    ($(#[$doc:meta])* $fn:ident, $path:literal, $req:ty, |$f:ident, $b:ident| $build:expr) => {
        $(#[$doc])*
        #[utoipa::path(post, path = $path, tag = "commands", request_body = $req,
            params(("reference" = String, Path)),
            responses((status = 200, description = "The complaint after the command", body = Complaint),
                (status = 204, description = "Done, for a token that may write but not read complaints"),
                (status = "4XX", body = Problem, content_type = "application/problem+json")),
            security(("bearer" = ["complaints:write"])))]
        pub async fn $fn(State(s): State<AppState>, Auth(who): Auth, Path(r): Path<String>, ApiJson($b): ApiJson<$req>) -> ApiResult<Response> {
            #[allow(unused_mut)]
            let mut $f = Fields::default();
            let input = $build;
            $f.finish()?;
            apply(&s, &who, &r, input.expect("checked")).await
        }
    };
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    pub department: Option<String>,
    pub category: Option<String>,
}
command!(
    /// Route to a department (re-routing clears the assignee).
    route, "/api/v1/complaints/{reference}/route", RouteRequest, |f, b| {
    let d = f.req("department", b.department.as_deref(), DepartmentCode::parse);
    let c = f.opt("category", b.category.as_deref(), Category::parse);
    d.map(|department| CommandInput::Route { department, category: c })
});

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub agent_id: Option<String>,
}
command!(
    /// Assign to an agent of the complaint's department.
    assign, "/api/v1/complaints/{reference}/assign", AssignRequest, |f, b| {
    f.req("agent_id", b.agent_id.as_deref(), |s| Uuid::parse_str(s).map_err(|_| FieldError::new("", "invalid_id", "is not a valid id")))
        .map(|agent_id| CommandInput::Assign { agent: agent_id })
});

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}
command!(
    /// Release the complaint back to its department's queue.
    unassign, "/api/v1/complaints/{reference}/unassign", Empty, |f, _b| Some(CommandInput::Unassign));
command!(
    /// Close a resolved complaint.
    close, "/api/v1/complaints/{reference}/close", Empty, |f, _b| Some(CommandInput::Close));

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// `outbound` (a reply to the player), `note` (internal) or `inbound` (from the player).
    pub kind: Option<String>,
    pub body: Option<String>,
    pub channel: Option<String>,
}
command!(
    /// Add a message to the thread: a reply to the player, an internal note, or a message received from the player.
    add_message, "/api/v1/complaints/{reference}/messages", MessageRequest, |f, b| {
    let kind = f.req("kind", b.kind.as_deref(), MessageKind::parse);
    let body = f.req("body", b.body.as_deref(), Body::parse);
    let channel = f.opt("channel", b.channel.as_deref(), Channel::parse);
    kind.zip(body).map(|(kind, body)| CommandInput::AddMessage { kind, channel, body })
});

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextRequest {
    pub text: Option<String>,
    pub channel: Option<String>,
}
command!(
    /// Propose a solution to the player; the complaint waits on the player.
    propose_solution, "/api/v1/complaints/{reference}/propose-solution", TextRequest, |f, b| {
    f.req("text", b.text.as_deref(), Body::parse).map(|text| CommandInput::ProposeSolution { text })
});
command!(
    /// Ask the player for information; the complaint waits on the player.
    request_information, "/api/v1/complaints/{reference}/request-information", TextRequest, |f, b| {
    f.req("text", b.text.as_deref(), Body::parse).map(|text| CommandInput::RequestInformation { text })
});
command!(
    /// Record the player's reply (a reply to a resolved complaint reopens it).
    player_reply, "/api/v1/complaints/{reference}/player-replies", TextRequest, |f, b| {
    let channel = f.opt("channel", b.channel.as_deref(), Channel::parse);
    f.req("text", b.text.as_deref(), Body::parse).map(|text| CommandInput::RecordPlayerReply { channel, text })
});

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// What was done.
    pub measures: Option<String>,
    /// The outcome, as the player will be told.
    pub result: Option<String>,
}
command!(
    /// Resolve, stating the measures taken and the result; the player is informed.
    resolve, "/api/v1/complaints/{reference}/resolve", ResolveRequest, |f, b| {
    let m = f.req("measures", b.measures.as_deref(), Body::parse);
    let r = f.req("result", b.result.as_deref(), Body::parse);
    m.zip(r).map(|(measures, result)| CommandInput::Resolve { measures, result })
});

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: Option<String>,
}
command!(
    /// Reopen a resolved or closed complaint.
    reopen, "/api/v1/complaints/{reference}/reopen", ReasonRequest, |f, b| {
    f.req("reason", b.reason.as_deref(), Body::parse).map(|reason| CommandInput::Reopen { reason })
});

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The reference of the complaint the work goes on in (open, the same player's).
    pub target: Option<String>,
    /// Said to the player on the duplicate's thread before it closes (optional).
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MergeResponse {
    /// The duplicate: closed, with `merged_into`.
    pub duplicate: Complaint,
    /// The complaint it was merged into.
    pub target: Complaint,
}

/// Merge this complaint, a duplicate, into another of the same player: it is closed, and its
/// thread shows on the other (replies and the tracking page follow).
#[utoipa::path(post, path = "/api/v1/complaints/{reference}/merge", tag = "commands", request_body = MergeRequest,
    params(("reference" = String, Path)),
    responses((status = 200, description = "Both complaints after the merge", body = MergeResponse),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["complaints:write"])))]
pub async fn merge(State(s): State<AppState>, Auth(who): Auth, Path(r): Path<String>, ApiJson(b): ApiJson<MergeRequest>) -> ApiResult<Response> {
    let mut f = Fields::default();
    let target = f.req("target", b.target.as_deref(), |v| {
        ComplaintRef::parse(v).map_err(|e| FieldError::new("", "invalid_reference", e.to_string()))
    });
    let note = f.opt("note", b.note.as_deref(), Body::parse);
    f.finish()?;
    let (duplicate, target) = s.desk.merge(&who, &reference(&r)?, &target.expect("checked"), note).await?;
    if !who.may_view(&duplicate) || !who.may_view(&target) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(Json(MergeResponse { duplicate, target }).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// `supervisor` or `external`.
    pub level: Option<String>,
    pub reason: Option<String>,
}
command!(
    /// Escalate to a supervisor or mark as escalated to an external dispute body.
    escalate, "/api/v1/complaints/{reference}/escalate", EscalateRequest, |f, b| {
    let level = f.opt("level", b.level.as_deref(), EscalationLevel::parse).unwrap_or(EscalationLevel::Supervisor);
    f.req("reason", b.reason.as_deref(), Body::parse).map(|reason| CommandInput::Escalate { level, reason })
});

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeescalateRequest {
    pub note: Option<String>,
}
command!(
    /// Remove the escalation flag (supervisors).
    deescalate, "/api/v1/complaints/{reference}/deescalate", DeescalateRequest, |f, b| {
    let note = f.opt("note", b.note.as_deref(), Body::parse);
    Some(CommandInput::Deescalate { note })
});

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityRequest {
    pub priority: Option<String>,
}
command!(
    /// Change the priority.
    priority, "/api/v1/complaints/{reference}/priority", PriorityRequest, |f, b| {
    f.req("priority", b.priority.as_deref(), Priority::parse).map(|priority| CommandInput::ChangePriority { priority })
});

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsRequest {
    pub add: Option<Vec<String>>,
    pub remove: Option<Vec<String>>,
}
command!(
    /// Add and remove tags.
    tags, "/api/v1/complaints/{reference}/tags", TagsRequest, |f, b| {
    let add = f.list("add", &b.add, Tag::parse).into_iter().collect();
    let remove = f.list("remove", &b.remove, Tag::parse).into_iter().collect();
    Some(CommandInput::Tag { add, remove })
});

// ------------------------------------------------------------------ directory

/// Departments complaints are routed to.
#[utoipa::path(get, path = "/api/v1/departments", tag = "directory", responses((status = 200, body = Vec<Department>)), security(("bearer" = [])))]
pub async fn departments(State(s): State<AppState>, Auth(_): Auth) -> ApiResult<Json<Vec<Department>>> {
    Ok(Json(s.desk.departments().await?.as_ref().clone()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentRequest {
    pub name_en: Option<String>,
    pub name_ru: Option<String>,
    pub name_kk: Option<String>,
    pub active: Option<bool>,
}

/// Create or update a department (administrators).
#[utoipa::path(put, path = "/api/v1/departments/{code}", tag = "directory", request_body = DepartmentRequest,
    params(("code" = String, Path)), responses((status = 200, body = Department), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["admin"])))]
pub async fn put_department(State(s): State<AppState>, Auth(who): Auth, Path(code): Path<String>, ApiJson(b): ApiJson<DepartmentRequest>) -> ApiResult<Json<Department>> {
    who.require_admin()?;
    let mut f = Fields::default();
    let code = f.req("code", Some(&code), DepartmentCode::parse);
    let name = |f: &mut Fields, n: &str, v: &Option<String>| f.req(n, v.as_deref(), |s| PersonName::parse(s).map(|p| p.to_string()));
    let (en, ru, kk) = (name(&mut f, "name_en", &b.name_en), name(&mut f, "name_ru", &b.name_ru), name(&mut f, "name_kk", &b.name_kk));
    f.finish()?;
    let d = Department { code: code.unwrap(), name_en: en.unwrap(), name_ru: ru.unwrap(), name_kk: kk.unwrap(), active: b.active.unwrap_or(true) };
    s.desk.upsert_department(Some(&who), d.clone()).await?;
    Ok(Json(d))
}

/// Agents (specialists, supervisors, administrators) with their e-mail addresses and roles:
/// supervisors and administrators.
#[utoipa::path(get, path = "/api/v1/agents", tag = "directory", responses((status = 200, body = Vec<Agent>)), security(("bearer" = ["supervisor"])))]
pub async fn agents(State(s): State<AppState>, Auth(who): Auth) -> ApiResult<Json<Vec<Agent>>> {
    Ok(Json(s.desk.agent_directory(&who).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    pub login: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// `admin`, `supervisor` or `agent`.
    pub role: Option<String>,
    pub departments: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    /// At least 10 characters; omit to have one generated.
    pub password: Option<String>,
    /// What the agent is good at, for auto-assignment (`crypto`, `vip`).
    pub skills: Option<Vec<String>>,
    /// Open complaints auto-assignment gives the agent at most (default 20; 0: none).
    pub capacity: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentUpdateRequest {
    pub departments: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub skills: Option<Vec<String>>,
    pub capacity: Option<u32>,
}

/// Change an agent's departments, languages, skills or capacity (administrators); fields left
/// out stay as they are.
#[utoipa::path(patch, path = "/api/v1/agents/{login}", tag = "directory", request_body = AgentUpdateRequest, params(("login" = String, Path)),
    responses((status = 200, body = Agent), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["admin"])))]
pub async fn update_agent(State(s): State<AppState>, Auth(who): Auth, Path(login): Path<String>, ApiJson(b): ApiJson<AgentUpdateRequest>) -> ApiResult<Json<Agent>> {
    who.require_admin()?;
    let mut f = Fields::default();
    let departments = b.departments.is_some().then(|| f.list("departments", &b.departments, DepartmentCode::parse).into_iter().collect());
    let languages = b.languages.is_some().then(|| f.list("languages", &b.languages, Language::parse).into_iter().collect());
    let skills = b.skills.is_some().then(|| f.list("skills", &b.skills, Tag::parse).into_iter().collect());
    f.finish()?;
    let update = ombuds_desk::AgentUpdate { departments, languages, skills, capacity: b.capacity, ..Default::default() };
    Ok(Json(s.desk.update_agent(Some(&who), &login, update).await?))
}

#[derive(Serialize, ToSchema)]
pub struct CreatedAgent {
    pub agent: Agent,
    /// The generated password, shown this once.
    pub password: Option<String>,
}

/// Add an agent (administrators).
#[utoipa::path(post, path = "/api/v1/agents", tag = "directory", request_body = AgentRequest,
    responses((status = 201, body = CreatedAgent), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["admin"])))]
pub async fn add_agent(State(s): State<AppState>, Auth(who): Auth, ApiJson(b): ApiJson<AgentRequest>) -> ApiResult<(StatusCode, Json<CreatedAgent>)> {
    who.require_admin()?;
    let mut f = Fields::default();
    let login = f.req("login", b.login.as_deref(), |s| Ok(s.to_string()));
    let name = f.req("name", b.name.as_deref(), PersonName::parse);
    let email = f.opt("email", b.email.as_deref(), EmailAddress::parse);
    let role = f.opt("role", b.role.as_deref(), Role::parse).unwrap_or(Role::Agent);
    let departments = f.list("departments", &b.departments, DepartmentCode::parse).into_iter().collect();
    let languages = f.list("languages", &b.languages, Language::parse).into_iter().collect();
    let skills = f.list("skills", &b.skills, Tag::parse).into_iter().collect();
    f.finish()?;
    let new = NewAgent { login: login.unwrap(), name: name.unwrap(), email, role, departments, languages, password: b.password, skills, capacity: b.capacity };
    let (agent, password) = s.desk.add_agent(Some(&who), new).await?;
    Ok((StatusCode::CREATED, Json(CreatedAgent { agent, password })))
}

/// Disable an agent: its sessions end at once (administrators).
#[utoipa::path(post, path = "/api/v1/agents/{login}/disable", tag = "directory", params(("login" = String, Path)),
    responses((status = 200, body = Agent), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["admin"])))]
pub async fn disable_agent(State(s): State<AppState>, Auth(who): Auth, Path(login): Path<String>) -> ApiResult<Json<Agent>> {
    Ok(Json(s.desk.set_agent_active(Some(&who), &login, false).await?))
}

/// Enable an agent again (administrators).
#[utoipa::path(post, path = "/api/v1/agents/{login}/enable", tag = "directory", params(("login" = String, Path)),
    responses((status = 200, body = Agent), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["admin"])))]
pub async fn enable_agent(State(s): State<AppState>, Auth(who): Auth, Path(login): Path<String>) -> ApiResult<Json<Agent>> {
    Ok(Json(s.desk.set_agent_active(Some(&who), &login, true).await?))
}

// ------------------------------------------------------------------ auth and tokens

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub login: Option<String>,
    pub password: Option<String>,
    /// The current code from the authenticator app, for agents with a second factor.
    pub code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
    pub agent: Agent,
}

/// Sign in with login and password; returns a session token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = SessionResponse), (status = 401, body = Problem, content_type = "application/problem+json")))]

pub async fn login(State(s): State<AppState>, ApiJson(b): ApiJson<LoginRequest>) -> ApiResult<Json<SessionResponse>> {
    let mut f = Fields::default();
    let login = f.req("login", b.login.as_deref(), |s| Ok(s.to_string()));
    let password = f.req("password", b.password.as_deref(), |s| Ok(s.to_string()));
    f.finish()?;
    let session = s.desk.login_with_code(&login.unwrap(), &password.unwrap(), b.code.as_deref()).await?;
    Ok(Json(SessionResponse { token: session.token, expires_at: session.expires_at, agent: session.agent }))
}

/// End this session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(State(s): State<AppState>, Auth(_): Auth, headers: HeaderMap) -> ApiResult<StatusCode> {
    if let Some(b) = crate::extract::bearer(&headers) {
        s.desk.logout(b).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    /// `agent` or `token`.
    pub kind: &'static str,
    pub agent: Option<Agent>,
    pub token_name: Option<String>,
    pub scopes: Vec<Scope>,
}

/// Who the credentials belong to.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = Me)), security(("bearer" = [])))]
pub async fn me(Auth(who): Auth) -> Json<Me> {
    Json(match who {
        Principal::Agent(a) => Me { kind: "agent", agent: Some(a), token_name: None, scopes: vec![] },
        Principal::Token { name, scopes, .. } => Me { kind: "token", agent: None, token_name: Some(name), scopes: scopes.into_iter().collect() },
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The current six-digit code from the authenticator app.
    pub code: Option<String>,
}

/// Start setting up a second factor: answers the secret and an `otpauth://` link for the app.
/// Nothing changes at sign-in until a code is confirmed.
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "auth", responses((status = 200, description = "secret, otpauth_url"), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["agent"])))]
pub async fn start_totp(State(s): State<AppState>, Auth(who): Auth) -> ApiResult<Json<ombuds_desk::TotpEnrolment>> {
    Ok(Json(s.desk.start_totp(&who).await?))
}

/// Confirm the second factor with a current code; from then on sign-in needs a code too.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", tag = "auth", request_body = CodeRequest,
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["agent"])))]
pub async fn confirm_totp(State(s): State<AppState>, Auth(who): Auth, ApiJson(b): ApiJson<CodeRequest>) -> ApiResult<StatusCode> {
    let code = b.code.ok_or_else(|| Problem::invalid(vec![FieldError::new("code", "required", "is required")]))?;
    s.desk.confirm_totp(&who, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turn the second factor off, with a current code.
#[utoipa::path(delete, path = "/api/v1/me/totp", tag = "auth", request_body = CodeRequest,
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["agent"])))]
pub async fn disable_totp(State(s): State<AppState>, Auth(who): Auth, ApiJson(b): ApiJson<CodeRequest>) -> ApiResult<StatusCode> {
    let code = b.code.ok_or_else(|| Problem::invalid(vec![FieldError::new("code", "required", "is required")]))?;
    s.desk.disable_totp(&who, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change your own password. Every other session of yours ends at once (with its live
/// sockets); the session that made the change stays.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = PasswordRequest,
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["agent"])))]
pub async fn change_password(State(s): State<AppState>, Auth(who): Auth, headers: HeaderMap, ApiJson(b): ApiJson<PasswordRequest>) -> ApiResult<StatusCode> {
    let mut f = Fields::default();
    let cur = f.req("current_password", b.current_password.as_deref(), |s| Ok(s.to_string()));
    let new = f.req("new_password", b.new_password.as_deref(), |s| Ok(s.to_string()));
    f.finish()?;
    s.desk.change_password(&who, &cur.unwrap(), &new.unwrap(), crate::extract::bearer(&headers)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct TokenEntry {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<jiff::Timestamp>,
}

/// API tokens (administrators).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth", responses((status = 200, body = Vec<TokenEntry>)), security(("bearer" = ["admin"])))]
pub async fn tokens(State(s): State<AppState>, Auth(who): Auth) -> ApiResult<Json<Vec<TokenEntry>>> {
    who.require_admin()?;
    let list = s.desk.store().tokens().await.map_err(ombuds_desk::DeskError::from)?;
    Ok(Json(
        list.into_iter()
            .map(|t| TokenEntry { id: t.id, name: t.name, scopes: t.scopes.into_iter().collect(), created_at: t.created_at, revoked_at: t.revoked_at })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub name: Option<String>,
    /// `complaints:read`, `complaints:write`, `cti`, `metrics`, `admin`.
    pub scopes: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The secret, shown this once.
    pub token: String,
}

/// Create an API token for an integration (administrators).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", request_body = TokenRequest,
    responses((status = 201, body = CreatedToken), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["admin"])))]
pub async fn create_token(State(s): State<AppState>, Auth(who): Auth, ApiJson(b): ApiJson<TokenRequest>) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    // Who may, before what they sent: a refusal does not coach the caller through the fields.
    who.require_admin()?;
    let mut f = Fields::default();
    let name = f.req("name", b.name.as_deref(), |s| Ok(s.to_string()));
    let scopes: BTreeSet<Scope> = f.list("scopes", &b.scopes, Scope::parse).into_iter().collect();
    f.finish()?;
    let t = s.desk.create_token(Some(&who), &name.unwrap(), scopes).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { id: t.id, name: t.name, scopes: t.scopes.into_iter().collect(), token: t.secret })))
}

/// Revoke an API token (administrators).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["admin"])))]
pub async fn revoke_token(State(s): State<AppState>, Auth(who): Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = Uuid::parse_str(&id).map_err(|_| Problem::new("not_found", "no such token"))?;
    s.desk.revoke_token(Some(&who), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct AuditReport {
    pub ok: bool,
    pub checked: u64,
    /// The first break in the chain, if any.
    pub broken: Option<String>,
}

/// Walk the hash-chained event log (administrators).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", responses((status = 200, body = AuditReport)), security(("bearer" = ["admin"])))]
pub async fn audit_verify(State(s): State<AppState>, Auth(who): Auth) -> ApiResult<Json<AuditReport>> {
    who.require_admin()?;
    let r = s.desk.verify_chain().await?;
    Ok(Json(AuditReport { ok: r.broken.is_none(), checked: r.checked, broken: r.broken.map(|b| b.to_string()) }))
}

