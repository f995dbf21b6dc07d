//! Live chat over HTTP and WebSocket (protocol: docs/chat.md). The player's side (`/chat/…`)
//! is called from the operator's site, so it answers CORS for `allowed_origins` and refuses a
//! WebSocket from any other page. The agent's side is `/api/v1/chat/ws`.
//!
//! Each connection is one task: it reads frames, asks the desk, and forwards what the desk's
//! hub feeds it. A message is answered with `ack` only after its commit, and reaches the other
//! side from the committed event, so what anyone sees is stored.

use crate::AppState;
use crate::extract::ClientIp;
use crate::extract::{ApiJson, bearer};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ombuds_core::chat::{Chat, ChatStatus, ClientMessageId};
use ombuds_core::{Body, DepartmentCode, EmailAddress, FieldError, Language, PersonName, Principal};
use ombuds_desk::chat::{ChatFeed, ChatIdentity, ChatLine, Said, StartChat, TransferTo, Watch, line_of};
use ombuds_desk::live::{LiveSignal, Party};
use ombuds_desk::{Desk, DeskError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::time::timeout;
use uuid::Uuid;

/// The widget, served by ombuds itself.
const WIDGET_JS: &str = include_str!("../assets/chat/widget.js");

#[derive(Debug, Clone)]
pub struct ChatWebConfig {
    /// Origins (`https://www.operator.example`) whose pages may embed the widget.
    pub allowed_origins: Vec<String>,
    /// Sustained `say` frames a connection may send per minute, and the burst above it.
    pub messages_per_minute: u32,
    pub burst: u32,
}

impl Default for ChatWebConfig {
    fn default() -> Self {
        ChatWebConfig { allowed_origins: vec![], messages_per_minute: 60, burst: 20 }
    }
}

/// Largest frame a connection may send.
pub const MAX_FRAME: usize = 16 * 1024;
const HELLO_WITHIN: Duration = Duration::from_secs(10);
pub(crate) const BAD_FRAMES: u32 = 5;
pub(crate) const CLOSE_POLICY: u16 = 1008;
pub(crate) const CLOSE_TOO_BIG: u16 = 1009;

// ------------------------------------------------------------------------- HTTP: the widget

pub async fn widget() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        WIDGET_JS,
    )
        .into_response()
}

/// The answer to a CORS preflight from an allowed origin (`cors` refuses the others first).
pub async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// CORS for the player's endpoints: only the configured origins, no credentials.
pub async fn cors(State(s): State<AppState>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = origin.as_ref().and_then(|o| o.to_str().ok()).is_some_and(|o| s.chat.allowed_origins.iter().any(|a| a == o));
    let preflight = req.method() == axum::http::Method::OPTIONS;
    if preflight && !allowed {
        return Problem::new("forbidden", "this origin may not use the chat").into_response();
    }
    let mut resp = next.run(req).await;
    if allowed && let Some(o) = origin {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if preflight {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
    }
    resp
}

/// A WebSocket from a page must come from an allowed origin (or this server's own pages);
/// programs that send no Origin are not browsers and are let through.
pub(crate) fn origin_ok(s: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return true };
    if s.chat.allowed_origins.iter().any(|a| a == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).is_some_and(|o| o == host)
}

#[derive(Deserialize)]
pub struct StatusQuery {
    department: Option<String>,
    language: Option<String>,
}

fn field<T>(r: Result<T, FieldError>, name: &str) -> Result<T, Problem> {
    r.map_err(|mut e| {
        e.field = name.to_string();
        Problem::invalid(vec![e])
    })
}

fn language(raw: Option<&str>) -> Result<Language, Problem> {
    match raw.filter(|l| !l.is_empty()) {
        None => Ok(Language::En),
        Some(l) => Language::parse(l).map_err(|_| Problem::invalid(vec![FieldError::new("language", "invalid_language", "must be ru, kk or en")])),
    }
}

pub async fn status(State(s): State<AppState>, Query(q): Query<StatusQuery>) -> ApiResult<Json<Value>> {
    let lang = language(q.language.as_deref())?;
    let dept = q.department.as_deref().filter(|d| !d.is_empty()).map(|d| field(DepartmentCode::parse(d), "department")).transpose()?;
    let a = s.desk.chat_availability(dept.as_ref(), lang).await?;
    Ok(Json(json!({"online": a.online, "agents": a.agents})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    department: Option<String>,
    text: String,
}

fn start_request(b: StartBody) -> Result<StartChat, Problem> {
    let mut errors = vec![];
    let mut take = |r: Result<(), FieldError>| {
        if let Err(e) = r {
            errors.push(e);
        }
    };
    let text = Body::parse(&b.text).map_err(|mut e| {
        e.field = "text".into();
        e
    });
    let lang = language(b.language.as_deref());
    let dept = b.department.as_deref().filter(|d| !d.is_empty()).map(DepartmentCode::parse).transpose().map_err(|mut e| {
        e.field = "department".into();
        e
    });
    let who = match b.token.filter(|t| !t.trim().is_empty()) {
        Some(t) => Ok(ChatIdentity::Signed(t)),
        None => {
            let name = PersonName::parse(b.name.as_deref().unwrap_or("")).map_err(|mut e| {
                e.field = "name".into();
                e
            });
            let email = EmailAddress::parse(b.email.as_deref().unwrap_or("")).map_err(|mut e| {
                e.field = "email".into();
                e
            });
            match (name, email) {
                (Ok(name), Ok(email)) => Ok(ChatIdentity::Anonymous { name, email }),
                (n, e) => {
                    take(n.map(|_| ()));
                    take(e.map(|_| ()));
                    Err(())
                }
            }
        }
    };
    take(text.as_ref().map(|_| ()).map_err(Clone::clone));
    take(dept.as_ref().map(|_| ()).map_err(Clone::clone));
    let lang = lang?;
    match (who, text, dept) {
        (Ok(who), Ok(text), Ok(department)) if errors.is_empty() => Ok(StartChat { who, language: lang, department, text }),
        _ => Err(Problem::invalid(errors)),
    }
}

pub async fn start(State(s): State<AppState>, ClientIp(client): ClientIp, ApiJson(b): ApiJson<StartBody>) -> ApiResult<Response> {
    let started = s.desk.start_chat(start_request(b)?, client).await?;
    let body = json!({
        "chat_id": started.chat.id, "secret": started.secret, "reference": started.reference.to_string(), "seq": started.seq,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn offline(State(s): State<AppState>, ClientIp(client): ClientIp, ApiJson(b): ApiJson<StartBody>) -> ApiResult<Response> {
    let c = s.desk.leave_message(start_request(b)?, client).await?;
    Ok((StatusCode::CREATED, Json(json!({"reference": c.reference.to_string()}))).into_response())
}

// ------------------------------------------------------------------------- frames

pub(crate) fn frame(v: Value) -> Message {
    Message::Text(Utf8Bytes::from(v.to_string()))
}

fn line_frame(chat_id: Option<Uuid>, l: &ChatLine, client_id: Option<&str>) -> Message {
    let mut v = json!({
        "type": "msg", "seq": l.seq, "from": match l.from { Party::Player => "player", Party::Agent => "agent" },
        "name": l.name, "text": l.text, "at": l.at.to_string(),
    });
    if let Some(c) = chat_id {
        v["chat_id"] = json!(c);
    }
    if let Some(c) = client_id {
        v["client_id"] = json!(c);
    }
    frame(v)
}

pub(crate) fn error_frame(code: &str, detail: impl Into<String>, chat_id: Option<Uuid>) -> Message {
    let mut v = json!({"type": "error", "code": code, "detail": detail.into()});
    if let Some(c) = chat_id {
        v["chat_id"] = json!(c);
    }
    frame(v)
}

fn desk_error_frame(e: &DeskError, chat_id: Option<Uuid>) -> Message {
    if let DeskError::Store(inner) = e {
        tracing::error!(error = ?inner, "store failure in a chat");
        return error_frame("internal", "something went wrong on our side; it was logged", chat_id);
    }
    error_frame(e.code(), e.to_string(), chat_id)
}

/// Sends the close frame, then reads (and drops) what the client still sends until it answers
/// the close, for at most a second: closing the TCP connection with unread data would reset it,
/// and the client could lose the close frame and its reason.
pub(crate) async fn close_gracefully(socket: &mut WebSocket, m: Message) {
    if socket.send(m).await.is_err() {
        return;
    }
    let _ = timeout(Duration::from_secs(1), async {
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

pub(crate) fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

/// A token bucket per connection.
struct Bucket {
    tokens: f64,
    per_sec: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: u32, burst: u32) -> Bucket {
        Bucket { tokens: f64::from(burst.max(1)), per_sec: f64::from(per_minute) / 60.0, burst: f64::from(burst.max(1)), at: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_sec).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What a text frame from a client is, or why it is not one.
pub(crate) enum Incoming {
    Frame(Value),
    TooBig,
    Bad(String),
    /// A ping or pong: the peer is there.
    Alive,
    Closed,
}

pub(crate) async fn next_frame(socket: &mut WebSocket) -> Incoming {
    match socket.recv().await {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Incoming::Closed,
        Some(Ok(Message::Text(t))) => {
            if t.len() > MAX_FRAME {
                return Incoming::TooBig;
            }
            match serde_json::from_str::<Value>(&t) {
                Ok(v) if v.get("type").and_then(Value::as_str).is_some() => Incoming::Frame(v),
                Ok(_) => Incoming::Bad("a frame is a JSON object with a \"type\"".into()),
                Err(e) => Incoming::Bad(format!("not JSON: {e}")),
            }
        }
        Some(Ok(Message::Binary(b))) => {
            if b.len() > MAX_FRAME { Incoming::TooBig } else { Incoming::Bad("binary frames are not part of the protocol".into()) }
        }
        Some(Ok(_)) => Incoming::Alive, // ping/pong: answered by the library
    }
}

/// Notes that the peer was heard from (any frame), and passes the frame on.
pub(crate) fn heard<T>(seen: &mut Instant, frame: T) -> T {
    *seen = Instant::now();
    frame
}

/// The first frame that is not a ping or pong.
async fn first_frame(socket: &mut WebSocket) -> Incoming {
    loop {
        match next_frame(socket).await {
            Incoming::Alive => continue,
            other => return other,
        }
    }
}

/// The server pings every connection this often, and closes one it has heard nothing from
/// (not even a pong) for `IDLE_LIMIT`: a vanished client does not hold a task and a chat forever.
pub(crate) const PING_EVERY: Duration = Duration::from_secs(30);
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(75);

pub(crate) fn keepalive() -> tokio::time::Interval {
    tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY)
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn uuid_field(v: &Value, k: &str) -> Option<Uuid> {
    str_field(v, k).and_then(|s| Uuid::parse_str(s).ok())
}

/// A `say` frame's client id and text, or the error frame to answer.
fn parse_say(v: &Value, chat_id: Option<Uuid>) -> Result<(ClientMessageId, Body), Message> {
    let cid = ClientMessageId::parse(str_field(v, "client_id").unwrap_or(""))
        .map_err(|e| error_frame("validation_failed", format!("client_id {}", e.message), chat_id))?;
    let text = Body::parse(str_field(v, "text").unwrap_or(""))
        .map_err(|e| with_client_id(error_frame("validation_failed", format!("text {}", e.message), chat_id), &cid))?;
    Ok((cid, text))
}

/// An error frame that answers a `say` names its `client_id`, so the sender knows which failed.
fn with_client_id(m: Message, cid: &ClientMessageId) -> Message {
    match &m {
        Message::Text(t) => match serde_json::from_str::<Value>(t) {
            Ok(mut v) => {
                v["client_id"] = json!(cid.as_str());
                frame(v)
            }
            Err(_) => m,
        },
        _ => m,
    }
}

// ------------------------------------------------------------------------- the player's socket

/// Frame limits, and small buffers: the library's defaults (128 KiB to read, 128 KiB to write)
/// would cost an idle chat a quarter of a megabyte; chat frames are a few hundred bytes.
fn sized(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(4 * MAX_FRAME).max_frame_size(4 * MAX_FRAME).read_buffer_size(4 * 1024).write_buffer_size(0)
}

pub async fn player_ws(State(s): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if !origin_ok(&s, &headers) {
        return Problem::new("forbidden", "this origin may not open a chat").into_response();
    }
    sized(ws).on_upgrade(move |socket| player_session(s, socket))
}

async fn player_session(s: AppState, mut socket: WebSocket) {
    metrics::gauge!("ombuds_chat_connections", "side" => "player").increment(1.0);
    let reason = player_loop(&s, &mut socket).await;
    if let Some(m) = reason {
        close_gracefully(&mut socket, m).await;
    }
    metrics::gauge!("ombuds_chat_connections", "side" => "player").decrement(1.0);
}

/// Runs one player connection; returns the close frame to end it with, if any.
async fn player_loop(s: &AppState, socket: &mut WebSocket) -> Option<Message> {
    let desk = &s.desk;
    let hello = match timeout(HELLO_WITHIN, first_frame(socket)).await {
        Err(_) => return Some(close(CLOSE_POLICY, "no hello within 10 s")),
        Ok(Incoming::Frame(v)) if str_field(&v, "type") == Some("hello") => v,
        Ok(Incoming::TooBig) => return Some(close(CLOSE_TOO_BIG, "message too big")),
        Ok(Incoming::Closed) => return None,
        Ok(_) => return Some(close(CLOSE_POLICY, "the first frame must be hello")),
    };
    let (Some(chat_id), Some(secret)) = (uuid_field(&hello, "chat_id"), str_field(&hello, "secret")) else {
        return Some(close(CLOSE_POLICY, "hello needs chat_id and secret"));
    };
    let mut chat = match desk.open_chat(chat_id, secret).await {
        Ok(c) => c,
        Err(DeskError::NotFound(_)) => return Some(close(CLOSE_POLICY, "unknown chat or wrong secret")),
        Err(e) => {
            tracing::error!(error = %e, "opening a chat failed");
            return Some(close(1011, "server error"));
        }
    };
    // Watch before reading the backlog, so nothing committed in between is missed.
    let (mut sub, mut feed) = desk.chat_hub().subscribe();
    sub.watch(Watch::Complaint(chat.complaint_id));
    let mut last_seq = hello.get("after").and_then(Value::as_i64).unwrap_or(0).max(0);
    let reference = match desk.chat_complaint(&chat).await {
        Ok(c) => c.reference.to_string(),
        Err(e) => return Some(desk_error_frame(&e, None)),
    };
    let names = desk.chat_hub().agent_names(desk).await;
    if socket.send(frame(json!({"type": "welcome", "chat_id": chat.id, "reference": reference, "status": chat.status.as_str()}))).await.is_err() {
        return None;
    }
    if socket.send(status_frame(&chat, &names)).await.is_err() {
        return None;
    }
    let mut pending: HashMap<Uuid, String> = HashMap::new();
    if !catch_up(desk, socket, &chat, &mut last_seq, &pending, None).await {
        return None;
    }
    let mut bucket = Bucket::new(s.chat.messages_per_minute, s.chat.burst);
    let mut bad = 0;
    let mut last_typing = Instant::now() - Duration::from_secs(1);
    let (mut ping, mut seen) = (keepalive(), Instant::now());
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if seen.elapsed() > IDLE_LIMIT {
                    return Some(close(1001, "idle"));
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() { return None; }
            }
            incoming = next_frame(socket) => match heard(&mut seen, incoming) {
                Incoming::Alive => {}
                Incoming::Closed => return None,
                Incoming::TooBig => return Some(close(CLOSE_TOO_BIG, "message too big")),
                Incoming::Bad(why) => {
                    bad += 1;
                    if bad >= BAD_FRAMES {
                        return Some(close(CLOSE_POLICY, "too many bad frames"));
                    }
                    if socket.send(error_frame("bad_frame", why, None)).await.is_err() { return None; }
                }
                Incoming::Frame(v) => match str_field(&v, "type").unwrap_or("") {
                    "say" => {
                        if !bucket.take() {
                            metrics::counter!("ombuds_chat_rate_limited_total").increment(1);
                            return Some(close(CLOSE_POLICY, "too many messages"));
                        }
                        let (cid, text) = match parse_say(&v, None) {
                            Ok(x) => x,
                            Err(m) => { if socket.send(m).await.is_err() { return None; } continue; }
                        };
                        match desk.player_says(&chat, &cid, text).await {
                            Ok(Said::Stored { message_id }) => { pending.insert(message_id, cid.as_str().to_string()); }
                            Ok(Said::Again { seq, .. }) => {
                                if socket.send(frame(json!({"type": "ack", "client_id": cid.as_str(), "seq": seq}))).await.is_err() { return None; }
                            }
                            Err(e) => if socket.send(with_client_id(desk_error_frame(&e, None), &cid)).await.is_err() { return None; },
                        }
                    }
                    "typing" => {
                        if last_typing.elapsed() >= Duration::from_millis(250) {
                            last_typing = Instant::now();
                            desk.typing(&chat, Party::Player, v.get("on").and_then(Value::as_bool).unwrap_or(true)).await;
                        }
                    }
                    "end" => {
                        match desk.end_chat(&chat).await {
                            Ok(_) | Err(DeskError::ChatEnded) => {
                                let _ = socket.send(frame(json!({"type": "ended"}))).await;
                                return Some(close(1000, "chat ended"));
                            }
                            Err(e) => if socket.send(desk_error_frame(&e, None)).await.is_err() { return None; },
                        }
                    }
                    other => {
                        bad += 1;
                        if bad >= BAD_FRAMES {
                            return Some(close(CLOSE_POLICY, "too many bad frames"));
                        }
                        if socket.send(error_frame("bad_frame", format!("unknown frame type '{other:.40}'"), None)).await.is_err() { return None; }
                    }
                },
            },
            item = feed.recv() => {
                let item = item?;
                let ok = match item {
                    ChatFeed::Event(e) => {
                        if e.seq <= last_seq { true } else {
                            let names = desk.chat_hub().agent_names(desk).await;
                            let mut ok = true;
                            if let Some(l) = line_of(&e, &chat, &names) {
                                ok = send_line(socket, None, &l, &mut pending).await;
                            }
                            last_seq = last_seq.max(e.seq);
                            ok
                        }
                    }
                    ChatFeed::Signal(sig) => match &*sig {
                        LiveSignal::Typing { party: Party::Agent, on, chat_id, .. } if *chat_id == chat.id => {
                            socket.send(frame(json!({"type": "typing", "on": on}))).await.is_ok()
                        }
                        LiveSignal::ChatChanged { chat_id, .. } if *chat_id == chat.id => {
                            match desk.store().chat(chat.id).await {
                                Ok((c, _)) => {
                                    chat = c;
                                    let names = desk.chat_hub().refresh_names(desk).await;
                                    let ended = chat.status == ChatStatus::Ended;
                                    let ok = socket.send(status_frame(&chat, &names)).await.is_ok();
                                    if ended {
                                        let _ = socket.send(frame(json!({"type": "ended"}))).await;
                                        return Some(close(1000, "chat ended"));
                                    }
                                    ok
                                }
                                Err(e) => { tracing::warn!(error = %e, "reloading a chat failed"); true }
                            }
                        }
                        _ => true,
                    },
                    ChatFeed::Lagged => true,
                };
                if !ok { return None; }
                if sub.take_lagged() && !catch_up(desk, socket, &chat, &mut last_seq, &pending, None).await {
                    return None;
                }
            }
        }
    }
}

fn status_frame(chat: &Chat, names: &HashMap<Uuid, String>) -> Message {
    let agent = chat.agent_id.and_then(|a| names.get(&a).cloned());
    frame(json!({"type": "status", "status": chat.status.as_str(), "agent": agent}))
}

/// Sends a line; the sender's own message is acknowledged first (it is stored: here it is).
async fn send_line(socket: &mut WebSocket, chat_id: Option<Uuid>, l: &ChatLine, pending: &mut HashMap<Uuid, String>) -> bool {
    let client_id = l.message_id.and_then(|m| pending.remove(&m));
    if let Some(cid) = &client_id {
        let mut ack = json!({"type": "ack", "client_id": cid, "seq": l.seq});
        if let Some(c) = chat_id {
            ack["chat_id"] = json!(c);
        }
        if socket.send(frame(ack)).await.is_err() {
            return false;
        }
    }
    socket.send(line_frame(chat_id, l, client_id.as_deref())).await.is_ok()
}

/// Sends every line after `last_seq` from the store (a fresh connection, or one that lagged).
async fn catch_up(desk: &Desk, socket: &mut WebSocket, chat: &Chat, last_seq: &mut i64, pending: &HashMap<Uuid, String>, chat_id: Option<Uuid>) -> bool {
    match desk.chat_lines(chat, *last_seq).await {
        Ok(lines) => {
            let mut pending = pending.clone();
            for l in &lines {
                if !send_line(socket, chat_id, l, &mut pending).await {
                    return false;
                }
                *last_seq = (*last_seq).max(l.seq);
            }
            true
        }
        Err(e) => socket.send(desk_error_frame(&e, chat_id)).await.is_ok(),
    }
}

// ------------------------------------------------------------------------- the agent's socket

/// The agents' chat console, a WebSocket (protocol: docs/chat.md). Agents only: a session
/// in `Authorization`, the workspace's cookie (from the desk's own pages), or an `auth` first
/// frame. The socket ends at once when the session ends (sign-out, password change, the
/// agent disabled).
#[utoipa::path(get, path = "/api/v1/chat/ws", tag = "chat", params(("only" = Option<String>, Query, description = "`calls`: the phone pop-up only")),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["agent"]), ()))]
#[allow(dead_code)]
pub(crate) fn agent_ws_doc() {}

pub async fn agent_ws(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>, ws: WebSocketUpgrade) -> Response {
    if !origin_ok(&s, &headers) {
        return Problem::new("forbidden", "this origin may not open the chat console").into_response();
    }
    // A bad header fails now; then the workspace's session cookie (from the desk's own pages
    // only); with neither, the first frame authenticates.
    let pre = match bearer(&headers) {
        Some(b) => match s.desk.authenticate(b).await {
            Ok(p) => Some((p, b.to_string())),
            Err(e) => return crate::problem::ApiError::from(e).into_response(),
        },
        None => match crate::console::cookie_principal(&s, &headers).await {
            Ok(p) => p,
            Err(refused) => return refused,
        },
    };
    // `?only=calls`: the workspace's other pages, which show the phone pop-up and nothing else.
    let calls_only = q.get("only").is_some_and(|o| o == "calls");
    sized(ws).on_upgrade(move |socket| agent_session(s, socket, pre, calls_only))
}

/// Whether the session a socket was opened with has ended (signed out, the password changed
/// elsewhere, the agent disabled): `fresh` reads the store past the auth cache (after a
/// `CredentialsChanged` signal); otherwise the cheap cached check every frame makes.
pub(crate) async fn session_ended(desk: &Desk, credential: &str, me: Uuid, fresh: bool) -> bool {
    let now = if fresh { desk.authenticate_fresh(credential).await } else { desk.authenticate(credential).await };
    match now {
        Ok(Principal::Agent(a)) => a.id != me || !a.active,
        Ok(_) => true,
        Err(DeskError::Store(e)) => {
            // The store is unreachable: the next check decides; commands fail on their own.
            tracing::warn!(error = %e, "a socket's session could not be checked");
            false
        }
        Err(_) => true,
    }
}

/// The close frame of a socket whose session ended.
pub(crate) fn signed_out() -> Message {
    close(CLOSE_POLICY, "the session has ended")
}

async fn agent_session(s: AppState, mut socket: WebSocket, pre: Option<(Principal, String)>, calls_only: bool) {
    let (who, credential) = match pre {
        Some(p) => p,
        None => match timeout(HELLO_WITHIN, first_frame(&mut socket)).await {
            Ok(Incoming::Frame(v)) if str_field(&v, "type") == Some("auth") => match s.desk.authenticate(str_field(&v, "token").unwrap_or("")).await {
                Ok(p) => (p, str_field(&v, "token").unwrap_or("").to_string()),
                Err(_) => {
                    close_gracefully(&mut socket, close(CLOSE_POLICY, "authentication failed")).await;
                    return;
                }
            },
            Ok(Incoming::Closed) => return,
            Err(_) => {
                close_gracefully(&mut socket, close(CLOSE_POLICY, "no auth within 10 s")).await;
                return;
            }
            Ok(_) => {
                close_gracefully(&mut socket, close(CLOSE_POLICY, "the first frame must be auth")).await;
                return;
            }
        },
    };
    let Principal::Agent(agent) = &who else {
        close_gracefully(&mut socket, close(CLOSE_POLICY, "only agents use the chat console")).await;
        return;
    };
    let agent_id = agent.id;
    if calls_only {
        // Not a chat console: no presence (the agent is not "online" for chats), no queue.
        metrics::gauge!("ombuds_chat_connections", "side" => "calls").increment(1.0);
        if let Some(m) = crate::console::calls_loop(&s, &mut socket, agent_id, &agent.login, &credential).await {
            close_gracefully(&mut socket, m).await;
        }
        metrics::gauge!("ombuds_chat_connections", "side" => "calls").decrement(1.0);
        return;
    }
    metrics::gauge!("ombuds_chat_connections", "side" => "agent").increment(1.0);
    s.desk.agent_presence(agent_id, 1).await;
    let reason = agent_loop(&s, &mut socket, who.clone(), agent_id, &credential).await;
    if let Some(m) = reason {
        close_gracefully(&mut socket, m).await;
    }
    s.desk.agent_presence(agent_id, -1).await;
    metrics::gauge!("ombuds_chat_connections", "side" => "agent").decrement(1.0);
}

/// A chat the console holds, and the last seq it showed.
struct Held {
    chat: Chat,
    last_seq: i64,
}

/// `yours`: whether the console holds the chat (false when it was handed to someone else).
fn chat_frame(chat: &Chat, reference: &str, names: &HashMap<Uuid, String>, me: Uuid) -> Message {
    frame(json!({
        "type": "chat", "chat_id": chat.id, "reference": reference, "status": chat.status.as_str(),
        "yours": chat.status == ChatStatus::Active && chat.agent_id == Some(me),
        "agent": chat.agent_id.and_then(|a| names.get(&a).cloned()),
        "player": chat.player_name.as_ref().map(|n| n.to_string()), "department": chat.department.as_ref().map(|d| d.to_string()),
        "language": chat.language.as_str(),
    }))
}

async fn queue_frame(desk: &Desk, who: &Principal) -> Message {
    match desk.chat_queue(who).await {
        Ok(list) => frame(json!({"type": "queue", "waiting": list.iter().map(|q| json!({
            "chat_id": q.chat.id, "reference": q.reference.to_string(), "department": q.chat.department.as_ref().map(|d| d.to_string()),
            "language": q.chat.language.as_str(), "name": q.chat.player_name.as_ref().map(|n| n.to_string()),
            "since": q.chat.created_at.to_string(), "preview": q.preview,
        })).collect::<Vec<_>>()})),
        Err(e) => desk_error_frame(&e, None),
    }
}

/// Runs one agent console. Every frame first checks that the session the socket was opened
/// with still stands (cheap: the auth cache, which every node clears when credentials change),
/// and a `CredentialsChanged` signal for this agent checks it against the store at once: a
/// signed-out, disabled or re-passworded agent's socket closes, and nothing queued behind
/// it is acted on.
async fn agent_loop(s: &AppState, socket: &mut WebSocket, who: Principal, me: Uuid, credential: &str) -> Option<Message> {
    let desk = &s.desk;
    let mut who = who;
    let (mut sub, mut feed) = desk.chat_hub().subscribe();
    sub.watch(Watch::Queue);
    sub.watch(Watch::Agent(me));
    let login = match &who {
        Principal::Agent(a) => a.login.clone(),
        _ => String::new(),
    };
    let mut held: HashMap<Uuid, Held> = HashMap::new(); // by complaint id
    let mut pending: HashMap<Uuid, String> = HashMap::new();
    if socket.send(frame(json!({"type": "ready", "agent": login}))).await.is_err() {
        return None;
    }
    if !adopt_chats(desk, socket, &who, &mut sub, &mut held).await || socket.send(queue_frame(desk, &who).await).await.is_err() {
        return None;
    }
    let mut bucket = Bucket::new(s.chat.messages_per_minute.max(600), s.chat.burst.max(100));
    let mut bad = 0;
    // Queue changes come in bursts; the console reads the queue at most every 100 ms.
    let mut queue_due: Option<tokio::time::Instant> = None;
    let (mut ping, mut seen) = (keepalive(), Instant::now());
    loop {
        let queue_timer = async {
            match queue_due {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ping.tick() => {
                if seen.elapsed() > IDLE_LIMIT {
                    return Some(close(1001, "idle"));
                }
                if session_ended(desk, credential, me, false).await { return Some(signed_out()); }
                if socket.send(Message::Ping(Default::default())).await.is_err() { return None; }
            }
            incoming = next_frame(socket) => match heard(&mut seen, incoming) {
                Incoming::Alive => {}
                Incoming::Closed => return None,
                Incoming::TooBig => return Some(close(CLOSE_TOO_BIG, "message too big")),
                Incoming::Bad(why) => {
                    bad += 1;
                    if bad >= BAD_FRAMES { return Some(close(CLOSE_POLICY, "too many bad frames")); }
                    if socket.send(error_frame("bad_frame", why, None)).await.is_err() { return None; }
                }
                Incoming::Frame(v) => {
                    match desk.authenticate(credential).await {
                        Ok(Principal::Agent(a)) if a.id == me && a.active => who = Principal::Agent(a),
                        Err(DeskError::Store(e)) => {
                            tracing::warn!(error = %e, "a socket's session could not be checked");
                        }
                        _ => return Some(signed_out()),
                    }
                    let who = &who;
                    let kind = str_field(&v, "type").unwrap_or("").to_string();
                    let chat_id = uuid_field(&v, "chat_id");
                    let out = match (kind.as_str(), chat_id) {
                        ("accept", Some(id)) => match desk.accept_chat(who, id).await {
                            Ok(chat) => {
                                let ok = adopt(desk, socket, &mut sub, &mut held, chat, 0).await;
                                if !ok { return None; }
                                None
                            }
                            Err(e) => Some(desk_error_frame(&e, Some(id))),
                        },
                        ("say", Some(id)) => {
                            if !bucket.take() {
                                return Some(close(CLOSE_POLICY, "too many messages"));
                            }
                            match held.values().find(|h| h.chat.id == id) {
                                None => Some(error_frame("not_found", "this console does not hold that chat; accept it first", Some(id))),
                                Some(h) => match parse_say(&v, Some(id)) {
                                    Err(m) => Some(m),
                                    Ok((cid, text)) => match desk.agent_says(who, &h.chat, &cid, text).await {
                                        Ok(Said::Stored { message_id }) => { pending.insert(message_id, cid.as_str().to_string()); None }
                                        Ok(Said::Again { seq, .. }) => Some(frame(json!({"type": "ack", "chat_id": id, "client_id": cid.as_str(), "seq": seq}))),
                                        Err(e) => Some(with_client_id(desk_error_frame(&e, Some(id)), &cid)),
                                    },
                                },
                            }
                        }
                        ("typing", Some(id)) => {
                            if let Some(h) = held.values().find(|h| h.chat.id == id) {
                                desk.typing(&h.chat, Party::Agent, v.get("on").and_then(Value::as_bool).unwrap_or(true)).await;
                            }
                            None
                        }
                        ("transfer", Some(id)) => {
                            let to = match (str_field(&v, "agent"), str_field(&v, "department")) {
                                (Some(a), None) => Ok(TransferTo::Agent(a.to_string())),
                                (None, Some(d)) => DepartmentCode::parse(d).map(TransferTo::Department).map_err(|e| error_frame("validation_failed", format!("department {}", e.message), Some(id))),
                                _ => Err(error_frame("validation_failed", "transfer names an agent or a department", Some(id))),
                            };
                            match to {
                                Err(m) => Some(m),
                                Ok(to) => match desk.transfer_chat(who, id, to).await {
                                    Ok(chat) => {
                                        let names = desk.chat_hub().refresh_names(desk).await;
                                        let reference = desk.chat_complaint(&chat).await.map(|c| c.reference.to_string()).unwrap_or_default();
                                        if chat.agent_id != Some(me) {
                                            held.remove(&chat.complaint_id);
                                            sub.unwatch(Watch::Complaint(chat.complaint_id));
                                        }
                                        Some(chat_frame(&chat, &reference, &names, me))
                                    }
                                    Err(e) => Some(desk_error_frame(&e, Some(id))),
                                },
                            }
                        }
                        ("end", Some(id)) => match held.values().find(|h| h.chat.id == id).map(|h| h.chat.clone()) {
                            None => Some(error_frame("not_found", "this console does not hold that chat", Some(id))),
                            Some(chat) => match desk.end_chat(&chat).await {
                                Ok(_) | Err(DeskError::ChatEnded) => {
                                    held.remove(&chat.complaint_id);
                                    sub.unwatch(Watch::Complaint(chat.complaint_id));
                                    Some(frame(json!({"type": "ended", "chat_id": id})))
                                }
                                Err(e) => Some(desk_error_frame(&e, Some(id))),
                            },
                        },
                        ("resume", Some(id)) => match held.values_mut().find(|h| h.chat.id == id) {
                            None => Some(error_frame("not_found", "this console does not hold that chat", Some(id))),
                            Some(h) => {
                                h.last_seq = v.get("after").and_then(Value::as_i64).unwrap_or(0).max(0);
                                let chat = h.chat.clone();
                                let mut last = h.last_seq;
                                if !catch_up(desk, socket, &chat, &mut last, &pending, Some(id)).await { return None; }
                                if let Some(h) = held.get_mut(&chat.complaint_id) { h.last_seq = last; }
                                None
                            }
                        },
                        ("accept" | "say" | "typing" | "transfer" | "end" | "resume", None) => Some(error_frame("validation_failed", "chat_id is missing or not a UUID", None)),
                        (other, _) => {
                            bad += 1;
                            if bad >= BAD_FRAMES { return Some(close(CLOSE_POLICY, "too many bad frames")); }
                            Some(error_frame("bad_frame", format!("unknown frame type '{other:.40}'"), None))
                        }
                    };
                    if let Some(m) = out && socket.send(m).await.is_err() { return None; }
                }
            },
            _ = queue_timer => {
                queue_due = None;
                if socket.send(queue_frame(desk, &who).await).await.is_err() { return None; }
            }
            item = feed.recv() => {
                let item = item?;
                let ok = match item {
                    ChatFeed::Event(e) => match held.get_mut(&e.event.complaint_id) {
                        Some(h) if e.seq > h.last_seq => {
                            h.last_seq = e.seq;
                            let names = desk.chat_hub().agent_names(desk).await;
                            match line_of(&e, &h.chat, &names) {
                                Some(l) => { let id = h.chat.id; send_line(socket, Some(id), &l, &mut pending).await }
                                None => true,
                            }
                        }
                        _ => true,
                    },
                    ChatFeed::Signal(sig) => match &*sig {
                        LiveSignal::CredentialsChanged { .. } => {
                            if session_ended(desk, credential, me, true).await {
                                return Some(signed_out());
                            }
                            if let Ok(p @ Principal::Agent(_)) = desk.authenticate(credential).await {
                                who = p;
                            }
                            true
                        }
                        LiveSignal::QueueChanged => {
                            if queue_due.is_none() {
                                queue_due = Some(tokio::time::Instant::now() + Duration::from_millis(100));
                            }
                            true
                        }
                        LiveSignal::ToAgent { frame: f, .. } => {
                            if f.get("type").and_then(Value::as_str) == Some("chat_assigned") {
                                adopt_chats(desk, socket, &who, &mut sub, &mut held).await
                            } else {
                                socket.send(frame(f.clone())).await.is_ok()
                            }
                        }
                        LiveSignal::Typing { party: Party::Player, chat_id, on, complaint_id } if held.contains_key(complaint_id) => {
                            socket.send(frame(json!({"type": "typing", "chat_id": chat_id, "on": on}))).await.is_ok()
                        }
                        LiveSignal::ChatChanged { chat_id, complaint_id } if held.contains_key(complaint_id) => {
                            match desk.store().chat(*chat_id).await {
                                Ok((c, _)) if c.status == ChatStatus::Active && c.agent_id == Some(me) => {
                                    if let Some(h) = held.get_mut(complaint_id) { h.chat = c; }
                                    true
                                }
                                Ok((c, _)) => {
                                    held.remove(complaint_id);
                                    sub.unwatch(Watch::Complaint(*complaint_id));
                                    let names = desk.chat_hub().refresh_names(desk).await;
                                    let reference = desk.chat_complaint(&c).await.map(|x| x.reference.to_string()).unwrap_or_default();
                                    let m = if c.status == ChatStatus::Ended { frame(json!({"type": "ended", "chat_id": c.id})) } else { chat_frame(&c, &reference, &names, me) };
                                    socket.send(m).await.is_ok()
                                }
                                Err(e) => { tracing::warn!(error = %e, "reloading a chat failed"); true }
                            }
                        }
                        _ => true,
                    },
                    ChatFeed::Lagged => true,
                };
                if !ok { return None; }
                if sub.take_lagged() {
                    for h in held.values_mut() {
                        let chat = h.chat.clone();
                        let mut last = h.last_seq;
                        if !catch_up(desk, socket, &chat, &mut last, &pending, Some(chat.id)).await { return None; }
                        h.last_seq = last;
                    }
                    if socket.send(queue_frame(desk, &who).await).await.is_err() { return None; }
                }
            }
        }
    }
}

/// Starts holding `chat`: watches it, tells the console, sends its transcript after `after`.
async fn adopt(desk: &Desk, socket: &mut WebSocket, sub: &mut ombuds_desk::chat::Subscription, held: &mut HashMap<Uuid, Held>, chat: Chat, after: i64) -> bool {
    sub.watch(Watch::Complaint(chat.complaint_id));
    let reference = match desk.chat_complaint(&chat).await {
        Ok(c) => c.reference.to_string(),
        Err(e) => return socket.send(desk_error_frame(&e, Some(chat.id))).await.is_ok(),
    };
    let names = desk.chat_hub().refresh_names(desk).await;
    // A chat is adopted by the agent who holds it.
    if socket.send(chat_frame(&chat, &reference, &names, chat.agent_id.unwrap_or_default())).await.is_err() {
        return false;
    }
    let mut last = after;
    if !catch_up(desk, socket, &chat, &mut last, &HashMap::new(), Some(chat.id)).await {
        return false;
    }
    held.insert(chat.complaint_id, Held { chat, last_seq: last });
    true
}

/// Holds every active chat of the agent that the console does not hold yet.
async fn adopt_chats(desk: &Desk, socket: &mut WebSocket, who: &Principal, sub: &mut ombuds_desk::chat::Subscription, held: &mut HashMap<Uuid, Held>) -> bool {
    match desk.agent_chats(who).await {
        Ok(chats) => {
            for c in chats {
                if !held.contains_key(&c.complaint_id) && !adopt(desk, socket, sub, held, c, 0).await {
                    return false;
                }
            }
            true
        }
        Err(e) => socket.send(desk_error_frame(&e, None)).await.is_ok(),
    }
}
