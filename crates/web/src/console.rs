//! The live-chat console (`/ui/chat`) and the phone pop-up, in the agent workspace.
//!
//! The page is a frame rendered here; `console.js` fills it from the agent WebSocket
//! (`/api/v1/chat/ws`, docs/chat.md), which a browser opens with the workspace's session cookie
//! (`cookie_principal`: only from the desk's own pages). The other workspace pages open the same
//! socket with `?only=calls` (`calls_loop`): it carries the phone pop-up's `call` frames and
//! nothing else, and does not make the agent "online" for chats.
//!
//! The pop-up acts on a call through `/ui/calls/{id}/complaint` and `/ui/calls/{id}/attach`:
//! the same desk calls as `POST /api/v1/calls/{id}/…`, with the session cookie and the CSRF
//! token instead of a bearer token (the session never reaches the script), and only for the
//! agent who answered the call.

use crate::AppState;
use crate::chat::{BAD_FRAMES, CLOSE_POLICY, CLOSE_TOO_BIG, Incoming, IDLE_LIMIT, close, error_frame, frame, heard, keepalive, next_frame};
use crate::problem::{ApiError, Problem};
use crate::ui::{LangQuery, Page, SESSION_COOKIE, Signed, Texts, cookie, csrf_ok, frame as page_frame, negotiate, render, secure, signed_in, text_keys, to_login};
use askama::Template;
use axum::Router;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ombuds_core::*;
use ombuds_desk::DeskError;
use ombuds_desk::chat::{ChatFeed, Watch};
use ombuds_desk::cti::CallComplaint;
use ombuds_desk::live::LiveSignal;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/chat", get(console_page))
        .route("/ui/chat/texts", get(texts))
        .route("/ui/calls/{id}/complaint", post(register_from_call))
        .route("/ui/calls/{id}/attach", post(attach_call))
        .route("/ui/assets/console.js", get(script))
        .route("/ui/assets/console.css", get(stylesheet))
}

// ------------------------------------------------------------------ the socket

/// The agent behind the workspace's session cookie, for the agent WebSocket. A browser sends
/// its cookies with a WebSocket from any page, so the cookie counts only when the socket was
/// opened by the desk's own pages (`Origin` is this host; the widget's allowed origins do not
/// count). `Ok(None)`: no cookie (bearer-less programs authenticate with the first frame).
pub(crate) async fn cookie_principal(s: &AppState, headers: &HeaderMap) -> Result<Option<(Principal, String)>, Response> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    if !own_origin(headers) {
        return Err(Problem::new("forbidden", "the workspace's session opens the chat console only from the desk's own pages").into_response());
    }
    match s.desk.authenticate(&token).await {
        Ok(p @ Principal::Agent(_)) => Ok(Some((p, token))),
        Ok(_) => Err(Problem::new("forbidden", "only agents use the chat console").into_response()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// `Origin` is present and names this host (`http://host` or `https://host`).
fn own_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin, host) {
        (Some(o), Some(h)) => o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")).is_some_and(|o| o == h),
        _ => false,
    }
}

/// A calls-only connection: `ready`, then the `call` frames for this agent. Anything the client
/// sends is answered `bad_frame` (the 5th closes it), and an idle connection is closed as on the
/// console.
pub(crate) async fn calls_loop(s: &AppState, socket: &mut WebSocket, me: Uuid, login: &str, credential: &str) -> Option<Message> {
    let (mut sub, mut feed) = s.desk.chat_hub().subscribe();
    sub.watch(Watch::Agent(me));
    if socket.send(frame(json!({"type": "ready", "agent": login, "only": "calls"}))).await.is_err() {
        return None;
    }
    let (mut ping, mut seen) = (keepalive(), Instant::now());
    let mut bad = 0;
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if seen.elapsed() > IDLE_LIMIT {
                    return Some(close(1001, "idle"));
                }
                // A lost signal is caught here at the latest (the check reads the auth cache).
                if crate::chat::session_ended(&s.desk, credential, me, false).await { return Some(crate::chat::signed_out()); }
                if socket.send(Message::Ping(Default::default())).await.is_err() { return None; }
            }
            incoming = next_frame(socket) => match heard(&mut seen, incoming) {
                Incoming::Alive => {}
                Incoming::Closed => return None,
                Incoming::TooBig => return Some(close(CLOSE_TOO_BIG, "message too big")),
                Incoming::Bad(_) | Incoming::Frame(_) => {
                    if crate::chat::session_ended(&s.desk, credential, me, false).await { return Some(crate::chat::signed_out()); }
                    bad += 1;
                    if bad >= BAD_FRAMES { return Some(close(CLOSE_POLICY, "too many bad frames")); }
                    if socket.send(error_frame("bad_frame", "this connection only receives calls", None)).await.is_err() { return None; }
                }
            },
            item = feed.recv() => {
                let item = item?;
                if let ChatFeed::Signal(sig) = &item
                    && let LiveSignal::CredentialsChanged { .. } = &**sig
                    && crate::chat::session_ended(&s.desk, credential, me, true).await
                {
                    return Some(crate::chat::signed_out());
                }
                if let ChatFeed::Signal(sig) = item
                    && let LiveSignal::ToAgent { frame: f, .. } = &*sig
                    && f.get("type").and_then(Value::as_str) == Some("call")
                    && socket.send(frame(f.clone())).await.is_err()
                {
                    return None;
                }
                let _ = sub.take_lagged();
            }
        }
    }
}

// ------------------------------------------------------------------ the page

#[derive(Template)]
#[template(path = "ui/console.html")]
struct ConsolePage {
    page: Page,
    /// (login, name) of the other active agents, for a transfer.
    agents: Vec<(String, String)>,
    /// (code, name) of the active departments.
    departments: Vec<(String, String)>,
}

async fn console_page(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let Some(Signed { me, .. }) = signed_in(&s, &headers).await else { return to_login(q.lang.as_deref()) };
    let f = page_frame(&s, &headers, q.lang.as_deref(), Some(&me));
    let lang = f.page.texts.lang();
    let mut agents: Vec<(String, String)> =
        s.desk.agents().await.unwrap_or_default().into_iter().filter(|a| a.active && a.id != me.id).map(|a| (a.login, a.name.to_string())).collect();
    agents.sort_by(|a, b| a.1.cmp(&b.1));
    let departments =
        s.desk.departments().await.map(|d| d.iter().filter(|d| d.active).map(|d| (d.code.to_string(), d.name(lang).to_string())).collect()).unwrap_or_default();
    let html = ConsolePage { page: f.page, agents, departments }.render();
    render(StatusCode::OK, html, f.set_cookies)
}

/// The texts `console.js` shows (it builds the chats and the pop-up itself), the languages' and
/// departments' names, in the page's language. `401` when signed out: the script asks this
/// after a lost connection, to tell a dropped network from an ended session.
async fn texts(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    if signed_in(&s, &headers).await.is_none() {
        return secure(Problem::new("unauthorized", "sign in first").into_response());
    }
    let t = Texts::new(negotiate(q.lang.as_deref(), &headers));
    let texts: BTreeMap<String, String> =
        text_keys().into_iter().filter(|k| ["console-", "call-", "status-"].iter().any(|p| k.starts_with(p))).map(|k| { let v = t.t(&k); (k, v) }).collect();
    let languages: BTreeMap<&str, String> = [Language::Ru, Language::Kk, Language::En].iter().map(|l| (l.as_str(), Texts::new(*l).t("lang-name"))).collect();
    let departments: BTreeMap<String, String> =
        s.desk.departments().await.map(|d| d.iter().map(|d| (d.code.to_string(), d.name(t.lang()).to_string())).collect()).unwrap_or_default();
    secure(axum::Json(json!({"texts": texts, "languages": languages, "departments": departments})).into_response())
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../assets/console.js"))
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", include_str!("../assets/console.css"))
}

/// A file compiled into the binary, cached by browsers for an hour (as `ui`'s assets).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    secure(res)
}

// ------------------------------------------------------------------ the pop-up's actions

#[derive(Debug, Deserialize)]
pub struct CallForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub reference: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub description: String,
}

/// Signed in, the CSRF token matches, and the call is one this agent answered.
async fn my_call(s: &AppState, headers: &HeaderMap, id: &str, csrf: &str) -> Result<(Signed, Uuid), Problem> {
    let Some(signed) = signed_in(s, headers).await else { return Err(Problem::new("unauthorized", "sign in first")) };
    if !csrf_ok(headers, csrf) {
        return Err(Problem::new("forbidden", "the form's CSRF token does not match; reload the page"));
    }
    let id: Uuid = id.parse().map_err(|_| Problem::new("not_found", format!("no call '{id:.40}'")))?;
    let call = s.desk.call(&signed.who, id).await.map_err(|e| ApiError::from(e).0)?;
    if call.agent_id != Some(signed.me.id) {
        return Err(Problem::new("forbidden", "this call was answered by another agent"));
    }
    Ok((signed, id))
}

fn answer(status: StatusCode, reference: &ComplaintRef) -> Response {
    secure((status, axum::Json(json!({"reference": reference.to_string(), "url": format!("/ui/complaints/{reference}")}))).into_response())
}

fn refused(p: Problem) -> Response {
    secure(p.into_response())
}

/// "Register a complaint from this call": `subject` and `description` (what the player said).
async fn register_from_call(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>, Form(form): Form<CallForm>) -> Response {
    let (signed, id) = match my_call(&s, &headers, &id, &form.csrf).await {
        Ok(x) => x,
        Err(p) => return refused(p),
    };
    let mut errors = vec![];
    let subject = Subject::parse(form.subject.trim()).map_err(|e| errors.push(e.under("subject"))).ok();
    let description = Body::parse(form.description.trim()).map_err(|e| errors.push(e.under("description"))).ok();
    let (Some(subject), Some(description)) = (subject, description) else { return refused(Problem::invalid(errors)) };
    let input = CallComplaint { kind: Kind::Complaint, subject, description, language: None, department: None, category: None, priority: None, player: None };
    match s.desk.register_from_call(&signed.who, id, input).await {
        Ok(made) => answer(if made.replayed { StatusCode::OK } else { StatusCode::CREATED }, &made.complaint.reference),
        Err(e) => refused(desk_problem(e)),
    }
}

/// "Add the call to complaint …": `reference`.
async fn attach_call(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>, Form(form): Form<CallForm>) -> Response {
    let (signed, id) = match my_call(&s, &headers, &id, &form.csrf).await {
        Ok(x) => x,
        Err(p) => return refused(p),
    };
    let reference = match ComplaintRef::parse(form.reference.trim()) {
        Ok(r) => r,
        Err(_) => return refused(Problem::invalid(vec![FieldError::new("reference", "invalid_reference", "choose one of the caller's complaints")])),
    };
    match s.desk.attach_call(&signed.who, id, &reference).await {
        Ok(made) => answer(StatusCode::OK, &made.complaint.reference),
        Err(e) => refused(desk_problem(e)),
    }
}

fn desk_problem(e: DeskError) -> Problem {
    ApiError::from(e).0
}
