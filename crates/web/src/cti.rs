//! The phone channel over HTTP: the CTI webhook a PBX posts call events to (JSON, or a form
//! as Asterisk's `CURL()` sends it), the call log, complaints from calls, callbacks, and the
//! agents' extensions. Requests are parsed here and handed to the desk; no SQL, no decisions.

use crate::AppState;
use crate::api::PlayerRequest;
use crate::extract::{ApiJson, Auth};
use crate::problem::{ApiError, ApiResult, Problem};
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::Json;
use ombuds_core::*;
use ombuds_desk::DeskError;
use ombuds_desk::cti::{self, Call, CallComplaint, Callback, CallbackStatus, RawCallEvent};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// The phone channel's routes, under `/api/v1`.
pub(crate) fn routes(r: crate::Routes) -> crate::Routes {
    r.post("/cti/events", post_event)
        .get("/cti/extensions", extensions)
        .put("/agents/{login}/extension", set_extension)
        .delete("/agents/{login}/extension", remove_extension)
        .get("/calls/{id}", get_call)
        .post("/calls/{id}/complaint", register_from_call)
        .post("/calls/{id}/attach", attach)
        .get("/players/{id}/calls", player_calls)
        .get("/complaints/{reference}/calls", complaint_calls)
        .get("/callbacks", callbacks)
        .post("/callbacks/{id}/done", finish_callback)
}

// ------------------------------------------------------------------ the webhook body

/// A text field a PBX template may fill with a bare number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Int(n) => n.to_string(),
            Scalar::Float(f) => f.to_string(),
        }
    }
}

/// One call event. Send it as JSON or as `application/x-www-form-urlencoded` with the same
/// field names (numbers may come as strings; empty optional fields count as absent).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallEventRequest {
    /// `ringing`, `answered`, `hangup`, `voicemail` or `recording`.
    pub event: Option<String>,
    /// The PBX's id for the call, the same in every event of the call (Asterisk: `linkedid`).
    #[schema(value_type = Option<String>)]
    call_id: Option<Scalar>,
    /// When it happened (RFC 3339); when it arrived if absent.
    pub at: Option<String>,
    /// The calling number; empty for a withheld one. Required on `ringing`, and on the first
    /// event the desk hears of a call.
    #[schema(value_type = Option<String>)]
    caller: Option<Scalar>,
    /// The number dialled (a DID, a queue, an extension).
    #[schema(value_type = Option<String>)]
    called: Option<Scalar>,
    /// `inbound` (default) or `outbound`.
    pub direction: Option<String>,
    /// `answered`: the extension that picked up (see `PUT /agents/{login}/extension`).
    #[schema(value_type = Option<String>)]
    extension: Option<Scalar>,
    /// `answered`: the agent's login, when the PBX knows it.
    pub agent: Option<String>,
    /// `hangup`: why the call ended (`NORMAL_CLEARING`, `NOANSWER`, `BUSY`, …).
    #[schema(value_type = Option<String>)]
    cause: Option<Scalar>,
    /// `hangup`: the call's length in seconds (talk time if answered).
    #[schema(value_type = Option<u32>)]
    duration_s: Option<Scalar>,
    /// `voicemail` and `recording`: an http(s) URL or an absolute path on the PBX.
    pub url: Option<String>,
}

impl CallEventRequest {
    fn raw(self) -> RawCallEvent {
        let t = |v: Option<Scalar>| v.map(Scalar::text);
        RawCallEvent {
            event: self.event,
            call_id: t(self.call_id),
            at: self.at,
            caller: t(self.caller),
            called: t(self.called),
            direction: self.direction,
            extension: t(self.extension),
            agent: self.agent,
            cause: t(self.cause),
            duration_s: t(self.duration_s),
            url: self.url,
        }
    }
}

/// The webhook's body, read but not yet parsed (the caller's scope is checked first).
pub struct EventBody {
    form: bool,
    bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for EventBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mime = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new("payload_too_large", "the request body is larger than this server accepts")
            } else {
                Problem::new("bad_request", format!("cannot read the request body: {e}"))
            }
        })?;
        let form = match mime.as_deref() {
            Some("application/x-www-form-urlencoded") => true,
            Some(m) if m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")) => false,
            None if bytes.is_empty() => false,
            _ => {
                return Err(Problem::new("unsupported_media_type", "send the event as application/json or application/x-www-form-urlencoded").into());
            }
        };
        Ok(EventBody { form, bytes })
    }
}

/// `a=1&b=x+y%21` → pairs, decoded.
fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    fn decode(part: &[u8]) -> Result<String, String> {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = part.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
                    out.push(hex.ok_or("a '%' is not followed by two hex digits")?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).map_err(|_| "the form is not UTF-8".to_string())
    }
    body.split(|b| *b == b'&')
        .filter(|p| !p.iter().all(u8::is_ascii_whitespace))
        .map(|p| {
            let (k, v) = match p.iter().position(|b| *b == b'=') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &b""[..]),
            };
            Ok((decode(k)?.trim().to_string(), decode(v)?))
        })
        .collect()
}

impl EventBody {
    fn parse(&self) -> Result<CallEventRequest, ApiError> {
        let data = |e: serde_json::Error| -> ApiError {
            if e.is_data() { Problem::new("validation_failed", e.to_string()).into() } else { Problem::new("malformed_json", e.to_string()).into() }
        };
        if !self.form {
            let body: &[u8] = if self.bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &self.bytes };
            return serde_json::from_slice(body).map_err(data);
        }
        let pairs = form_pairs(&self.bytes).map_err(|why| Problem::new("bad_request", format!("the form cannot be read: {why}")))?;
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            if map.insert(k.clone(), serde_json::Value::String(v)).is_some() {
                return Err(Problem::invalid(vec![FieldError::new(k, "duplicate_field", "is given twice")]).into());
            }
        }
        serde_json::from_value(serde_json::Value::Object(map)).map_err(data)
    }
}

// ------------------------------------------------------------------ answers

/// One phone call.
#[derive(Serialize, ToSchema)]
pub struct CallEntry {
    /// The desk's id for the call (in `/calls/{id}`).
    pub id: Uuid,
    /// The PBX's id.
    pub call_id: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub caller: String,
    pub called: String,
    /// The player's number in E.164; absent when withheld.
    pub phone: Option<String>,
    pub player_id: Option<Uuid>,
    /// `ringing`, `answered`, `ended`, `missed` or `voicemail`.
    pub status: String,
    pub agent_id: Option<Uuid>,
    pub extension: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: jiff::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub answered_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<jiff::Timestamp>,
    pub duration_s: Option<i64>,
    pub cause: Option<String>,
    pub recording_url: Option<String>,
    pub voicemail_url: Option<String>,
    /// The complaint the call was registered as or added to.
    pub complaint_id: Option<Uuid>,
    /// The callback a missed call or voicemail opened or joined.
    pub callback_id: Option<Uuid>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
}

impl From<Call> for CallEntry {
    fn from(c: Call) -> Self {
        CallEntry {
            id: c.id,
            call_id: c.call_id,
            direction: c.direction.as_str().into(),
            caller: c.caller,
            called: c.called,
            phone: c.phone,
            player_id: c.player_id,
            status: c.status.as_str().into(),
            agent_id: c.agent_id,
            extension: c.extension,
            started_at: c.started_at,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            duration_s: c.duration_s,
            cause: c.cause,
            recording_url: c.recording_url,
            voicemail_url: c.voicemail_url,
            complaint_id: c.complaint_id,
            callback_id: c.callback_id,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CallEventResponse {
    /// False when the event changed nothing: a repeat, or older news than the call has.
    pub changed: bool,
    pub call: CallEntry,
}

/// A call back owed to a player.
#[derive(Serialize, ToSchema)]
pub struct CallbackEntry {
    pub id: Uuid,
    /// The call that opened it (`/calls/{id}`).
    pub call_id: Uuid,
    pub player_id: Option<Uuid>,
    /// The number to call, E.164.
    pub phone: String,
    /// `missed` or `voicemail` (a voicemail among its calls).
    pub reason: String,
    /// Missed calls from this number it answers.
    pub calls: i64,
    #[schema(value_type = String, format = DateTime)]
    pub due_at: jiff::Timestamp,
    /// Open and past its deadline.
    pub overdue: bool,
    /// `open` or `done`.
    pub status: String,
    pub done_by: Option<Actor>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<jiff::Timestamp>,
    pub note: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

impl CallbackEntry {
    fn new(c: Callback, now: jiff::Timestamp) -> Self {
        CallbackEntry {
            id: c.id,
            call_id: c.call_id,
            player_id: c.player_id,
            phone: c.phone,
            reason: c.reason.as_str().into(),
            calls: c.calls,
            due_at: c.due_at,
            overdue: c.status == CallbackStatus::Open && c.due_at < now,
            status: c.status.as_str().into(),
            done_by: c.done_by,
            done_at: c.done_at,
            note: c.note,
            created_at: c.created_at,
        }
    }
}

fn id_in_path(raw: &str, what: &'static str) -> ApiResult<Uuid> {
    raw.parse().map_err(|_| Problem::new("not_found", format!("no {what} '{raw}'")).into())
}

fn reference(raw: &str) -> ApiResult<ComplaintRef> {
    ComplaintRef::parse(raw).map_err(|e| Problem::new("not_found", format!("no complaint '{raw}': {e}")).into())
}

fn finish(errors: Vec<FieldError>) -> ApiResult<()> {
    if errors.is_empty() { Ok(()) } else { Err(Problem::invalid(errors).into()) }
}

fn opt<T>(errors: &mut Vec<FieldError>, name: &str, v: Option<&str>, parse: impl FnOnce(&str) -> Result<T, FieldError>) -> Option<T> {
    match v.map(parse)? {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(e.under(name));
            None
        }
    }
}

fn req<T>(errors: &mut Vec<FieldError>, name: &str, v: Option<&str>, parse: impl FnOnce(&str) -> Result<T, FieldError>) -> Option<T> {
    if v.is_none() {
        errors.push(FieldError::new(name, "required", "is required"));
    }
    opt(errors, name, v, parse)
}

fn limit(q: &HashMap<String, String>, errors: &mut Vec<FieldError>) -> u32 {
    let parse = |s: &str| s.parse::<u32>().ok().filter(|n| (1..=200).contains(n)).ok_or_else(|| FieldError::new("", "out_of_range", "use 1 to 200"));
    opt(errors, "limit", q.get("limit").map(String::as_str), parse).unwrap_or(50)
}

fn only(q: &HashMap<String, String>, known: &[&str], errors: &mut Vec<FieldError>) {
    for k in q.keys().filter(|k| !known.contains(&k.as_str())) {
        errors.push(FieldError::new(k.clone(), "unknown_parameter", "is not a parameter of this list"));
    }
}

// ------------------------------------------------------------------ handlers

/// The CTI webhook: one call event from the PBX. Needs an API token with the `cti` scope.
/// Repeats answer 200 with `changed: false`; an event for an unknown call without its numbers
/// is 404; an event contradicting the call (an answer after an unanswered hang-up) is 409.
#[utoipa::path(post, path = "/api/v1/cti/events", tag = "phone",
    request_body(content = CallEventRequest, content_type = "application/json", description = "Also accepted as application/x-www-form-urlencoded"),
    responses((status = 200, body = CallEventResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["cti"])))]
pub async fn post_event(State(s): State<AppState>, Auth(who): Auth, body: EventBody) -> ApiResult<Json<CallEventResponse>> {
    cti::may_post_call_events(&who)?;
    let raw = body.parse()?.raw();
    let event = cti::parse_event(&raw, now()).map_err(Problem::invalid)?;
    match s.desk.call_event(&who, event.clone()).await {
        Ok(o) => Ok(Json(CallEventResponse { changed: o.changed, call: o.call.into() })),
        Err(DeskError::NotFound("call")) => Err(Problem::new("not_found", cti::unknown_call_detail(&event)).into()),
        Err(e) => Err(e.into()),
    }
}

/// One call.
#[utoipa::path(get, path = "/api/v1/calls/{id}", tag = "phone", params(("id" = Uuid, Path)),
    responses((status = 200, body = CallEntry), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["complaints:read"])))]
pub async fn get_call(State(s): State<AppState>, Auth(who): Auth, Path(id): Path<String>) -> ApiResult<Json<CallEntry>> {
    cti::may_read_calls(&who)?;
    Ok(Json(s.desk.call(&who, id_in_path(&id, "call")?).await?.into()))
}

/// A player's calls, newest first (`limit` 1–200, default 50).
#[utoipa::path(get, path = "/api/v1/players/{id}/calls", tag = "phone", params(("id" = Uuid, Path), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = Vec<CallEntry>), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["complaints:read"])))]
pub async fn player_calls(State(s): State<AppState>, Auth(who): Auth, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Vec<CallEntry>>> {
    cti::may_read_calls(&who)?;
    let mut errors = vec![];
    only(&q, &["limit"], &mut errors);
    let limit = limit(&q, &mut errors);
    finish(errors)?;
    let calls = s.desk.calls_of_player(&who, id_in_path(&id, "player")?, limit).await?;
    Ok(Json(calls.into_iter().map(Into::into).collect()))
}

/// The calls registered as or added to a complaint, oldest first.
#[utoipa::path(get, path = "/api/v1/complaints/{reference}/calls", tag = "phone", params(("reference" = String, Path)),
    responses((status = 200, body = Vec<CallEntry>), (status = 404, body = Problem, content_type = "application/problem+json")), security(("bearer" = ["complaints:read"])))]
pub async fn complaint_calls(State(s): State<AppState>, Auth(who): Auth, Path(r): Path<String>) -> ApiResult<Json<Vec<CallEntry>>> {
    let calls = s.desk.calls_of_complaint(&who, &reference(&r)?).await?;
    Ok(Json(calls.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallComplaintRequest {
    /// `complaint` (default), `feedback`, `question` or `suggestion`.
    pub kind: Option<String>,
    pub subject: Option<String>,
    /// What the player said.
    pub description: Option<String>,
    pub language: Option<String>,
    pub department: Option<String>,
    pub category: Option<String>,
    pub priority: Option<String>,
    /// Who the player is, when learnt on the call; required when the number was withheld.
    pub player: Option<PlayerRequest>,
}

#[derive(Serialize, ToSchema)]
pub struct FromCallResponse {
    pub complaint: Complaint,
    pub call: CallEntry,
}

/// Register a complaint from a call: the call's player, the phone channel, and the call as
/// the complaint's first message. Once per call: a call already part of a complaint is 409.
#[utoipa::path(post, path = "/api/v1/calls/{id}/complaint", tag = "phone", params(("id" = Uuid, Path)), request_body = CallComplaintRequest,
    responses((status = 201, body = FromCallResponse), (status = 200, description = "The first attempt's result, finished", body = FromCallResponse),
        (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["complaints:write"])))]
pub async fn register_from_call(State(s): State<AppState>, Auth(who): Auth, Path(id): Path<String>, ApiJson(b): ApiJson<CallComplaintRequest>) -> ApiResult<(StatusCode, Json<FromCallResponse>)> {
    let id = id_in_path(&id, "call")?;
    let mut e = vec![];
    let kind = opt(&mut e, "kind", b.kind.as_deref(), Kind::parse).unwrap_or(Kind::Complaint);
    let subject = req(&mut e, "subject", b.subject.as_deref(), Subject::parse);
    let description = req(&mut e, "description", b.description.as_deref(), Body::parse);
    let language = opt(&mut e, "language", b.language.as_deref(), Language::parse);
    let department = opt(&mut e, "department", b.department.as_deref(), DepartmentCode::parse);
    let category = opt(&mut e, "category", b.category.as_deref(), Category::parse);
    let priority = opt(&mut e, "priority", b.priority.as_deref(), Priority::parse);
    let player = b.player.as_ref().map(|p| PlayerContact {
        external_id: opt(&mut e, "player.external_id", p.external_id.as_deref(), ExternalPlayerId::parse),
        name: opt(&mut e, "player.name", p.name.as_deref(), PersonName::parse),
        email: opt(&mut e, "player.email", p.email.as_deref(), EmailAddress::parse),
        phone: opt(&mut e, "player.phone", p.phone.as_deref(), PhoneNumber::parse),
        language: opt(&mut e, "player.language", p.language.as_deref(), Language::parse),
    });
    finish(e)?;
    let input = CallComplaint {
        kind,
        subject: subject.expect("checked"),
        description: description.expect("checked"),
        language,
        department,
        category,
        priority,
        player,
    };
    let made = s.desk.register_from_call(&who, id, input).await?;
    let status = if made.replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(FromCallResponse { complaint: made.complaint, call: made.call.into() })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachRequest {
    /// The complaint's reference.
    pub reference: Option<String>,
}

/// Add a call to an existing complaint as an inbound phone message describing it (number,
/// times, duration, recording). Adding it again to the same complaint changes nothing; a call
/// already part of another complaint is 409.
#[utoipa::path(post, path = "/api/v1/calls/{id}/attach", tag = "phone", params(("id" = Uuid, Path)), request_body = AttachRequest,
    responses((status = 200, body = FromCallResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["complaints:write"])))]
pub async fn attach(State(s): State<AppState>, Auth(who): Auth, Path(id): Path<String>, ApiJson(b): ApiJson<AttachRequest>) -> ApiResult<Json<FromCallResponse>> {
    let id = id_in_path(&id, "call")?;
    let mut e = vec![];
    let r = req(&mut e, "reference", b.reference.as_deref(), |s| Ok(s.to_string()));
    finish(e)?;
    let made = s.desk.attach_call(&who, id, &reference(&r.expect("checked"))?).await?;
    Ok(Json(FromCallResponse { complaint: made.complaint, call: made.call.into() }))
}

/// Callbacks owed to players whose call was missed or who left a voicemail, the earliest due
/// first. `status`: `open` (default), `done` or `all`; `limit` 1–200 (default 50).
#[utoipa::path(get, path = "/api/v1/callbacks", tag = "phone", params(("status" = Option<String>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = Vec<CallbackEntry>), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["complaints:read"])))]
pub async fn callbacks(State(s): State<AppState>, Auth(who): Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Vec<CallbackEntry>>> {
    cti::may_read_calls(&who)?;
    let mut errors = vec![];
    only(&q, &["status", "limit"], &mut errors);
    let status = match q.get("status").map(|s| s.trim()) {
        None | Some("open") => Some(CallbackStatus::Open),
        Some("done") => Some(CallbackStatus::Done),
        Some("all") => None,
        Some(other) => {
            errors.push(FieldError::new("status", "invalid_value", format!("'{other}' is not one of: open, done, all")));
            None
        }
    };
    let limit = limit(&q, &mut errors);
    finish(errors)?;
    let now = now();
    let list = s.desk.callbacks(&who, status, limit).await?;
    Ok(Json(list.into_iter().map(|c| CallbackEntry::new(c, now)).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackDoneRequest {
    /// How it went ("reached, explained the delay").
    pub note: Option<String>,
}

/// Mark a callback done. Marking it again answers it as it is.
#[utoipa::path(post, path = "/api/v1/callbacks/{id}/done", tag = "phone", params(("id" = Uuid, Path)), request_body = CallbackDoneRequest,
    responses((status = 200, body = CallbackEntry), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["complaints:write"])))]
pub async fn finish_callback(State(s): State<AppState>, Auth(who): Auth, Path(id): Path<String>, ApiJson(b): ApiJson<CallbackDoneRequest>) -> ApiResult<Json<CallbackEntry>> {
    cti::may_work_calls(&who)?;
    let id = id_in_path(&id, "callback")?;
    let mut e = vec![];
    let note = opt(&mut e, "note", b.note.as_deref(), Body::parse);
    finish(e)?;
    let (cb, _) = s.desk.finish_callback(&who, id, note.as_ref().map(|n| n.as_str())).await?;
    Ok(Json(CallbackEntry::new(cb, now())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRequest {
    /// What the PBX reports in `answered` events for this agent (`101`).
    pub extension: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExtensionEntry {
    pub extension: String,
    pub login: String,
    pub agent_id: Uuid,
}

/// Give an agent the extension calls reach them on, replacing the one they had
/// (administrators). An extension another agent has is 409.
#[utoipa::path(put, path = "/api/v1/agents/{login}/extension", tag = "phone", params(("login" = String, Path)), request_body = ExtensionRequest,
    responses((status = 200, body = ExtensionEntry), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["admin"])))]
pub async fn set_extension(State(s): State<AppState>, Auth(who): Auth, Path(login): Path<String>, ApiJson(b): ApiJson<ExtensionRequest>) -> ApiResult<Json<ExtensionEntry>> {
    who.require_admin()?;
    let mut e = vec![];
    let ext = req(&mut e, "extension", b.extension.as_deref(), cti::parse_extension);
    finish(e)?;
    let ext = ext.expect("checked");
    let agent = s.desk.set_agent_extension(&who, &login, Some(&ext)).await?;
    Ok(Json(ExtensionEntry { extension: ext, login: agent.login, agent_id: agent.id }))
}

/// Take an agent's extension away (administrators).
#[utoipa::path(delete, path = "/api/v1/agents/{login}/extension", tag = "phone", params(("login" = String, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["admin"])))]
pub async fn remove_extension(State(s): State<AppState>, Auth(who): Auth, Path(login): Path<String>) -> ApiResult<StatusCode> {
    s.desk.set_agent_extension(&who, &login, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every extension and its agent (administrators).
#[utoipa::path(get, path = "/api/v1/cti/extensions", tag = "phone",
    responses((status = 200, body = Vec<ExtensionEntry>), (status = "4XX", body = Problem, content_type = "application/problem+json")), security(("bearer" = ["admin"])))]
pub async fn extensions(State(s): State<AppState>, Auth(who): Auth) -> ApiResult<Json<Vec<ExtensionEntry>>> {
    let list = s.desk.agent_extensions(&who).await?;
    Ok(Json(list.into_iter().map(|(extension, a)| ExtensionEntry { extension, login: a.login, agent_id: a.id }).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_as_curl_sends_them() {
        let pairs = form_pairs(b"event=ringing&call_id=1714.42&caller=%2B7+701+123-45-67&called=3300&url=&x").unwrap();
        let got: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, [("event", "ringing"), ("call_id", "1714.42"), ("caller", "+7 701 123-45-67"), ("called", "3300"), ("url", ""), ("x", "")]);
        assert_eq!(form_pairs("name=%D0%90%D0%B9".as_bytes()).unwrap()[0].1, "Ай");
        assert!(form_pairs(b"a=%zz").is_err());
        assert!(form_pairs(b"a=%").is_err());
        assert!(form_pairs(b"a=%ff").is_err(), "not UTF-8");
        assert!(form_pairs(b"").unwrap().is_empty());
    }
}
