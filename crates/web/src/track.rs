//! The player's pages for following a complaint: `/track` asks for the reference and the
//! e-mail address and sends a one-time code; the code, or the link in any notice, opens
//! `/track/{ref}`, where the player reads the conversation, replies with files, and rates the
//! resolution. The pass is a cookie scoped to that one complaint's pages (`SameSite=Lax`, so a
//! link clicked in a mail client opens the page). Handlers call the desk, never the store.

use crate::AppState;
use crate::extract::ClientIp;
use crate::ui::{CSRF_COOKIE, Frame, Page, cookie, csrf_ok, frame, render, secure};
use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ombuds_core::*;
use ombuds_desk::DeskError;
use ombuds_desk::tracking::{TrackPass, Upload};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use uuid::Uuid;

const PASS_COOKIE: &str = "ombuds_track";
/// A reply's whole request: text and files (each file is also held to the desk's own limit).
const REPLY_BODY_LIMIT: usize = 30 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/track", get(start).post(send_code))
        .route("/track/code", post(enter_code))
        .route("/track/{reference}", get(tracked))
        .route("/track/{reference}/reply", post(reply).layer(DefaultBodyLimit::max(REPLY_BODY_LIMIT)))
        .route("/track/{reference}/rate", post(rate))
        .route("/track/{reference}/files/{id}", get(file))
}

#[derive(Template)]
#[template(path = "ui/track_start.html")]
struct StartPage {
    page: Page,
    reference: String,
    email: String,
    /// The code was asked for: show the code form.
    sent: bool,
    error: Option<String>,
}

struct ThreadRow {
    mine: bool,
    label: String,
    at: String,
    body: String,
    /// (id, name, size)
    files: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "ui/track.html")]
struct TrackPage {
    page: Page,
    reference: String,
    subject: String,
    status_key: String,
    status: String,
    filed: String,
    department: Option<String>,
    expected: Option<String>,
    rows: Vec<ThreadRow>,
    /// (measures, result, when)
    resolution: Option<(String, String, String)>,
    can_reply: bool,
    resolved: bool,
    can_rate: bool,
    /// (score, comment)
    rated: Option<(u8, String)>,
    error: Option<String>,
    notice: Option<String>,
    reply_text: String,
    max_files: usize,
    max_mb: usize,
    /// (score, label) for the rating form.
    scores: Vec<(u8, String)>,
}

#[derive(Debug, Deserialize, Default)]
pub struct StartQuery {
    pub lang: Option<String>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

async fn start(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<StartQuery>) -> Response {
    let f = frame(&s, &headers, q.lang.as_deref(), None);
    let reference = q.reference.as_deref().and_then(|r| ComplaintRef::parse(r).ok()).map(|r| r.to_string()).unwrap_or_default();
    let html = StartPage { page: f.page, reference, email: String::new(), sent: false, error: None }.render();
    render(StatusCode::OK, html, f.set_cookies)
}

#[derive(Debug, Deserialize, Default)]
pub struct SendForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default, rename = "ref")]
    pub reference: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub code: String,
}

fn start_page(f: Frame, status: StatusCode, form: &SendForm, sent: bool, error_key: Option<&str>) -> Response {
    let error = error_key.map(|k| f.page.t(k));
    let page = StartPage { reference: form.reference.chars().take(40).collect(), email: form.email.chars().take(320).collect(), sent, error, page: f.page };
    render(status, page.render(), f.set_cookies)
}

async fn send_code(State(s): State<AppState>, ClientIp(client): ClientIp, headers: HeaderMap, Form(form): Form<SendForm>) -> Response {
    let f = frame(&s, &headers, None, None);
    if !csrf_ok(&headers, &form.csrf) {
        return start_page(f, StatusCode::FORBIDDEN, &form, false, Some("csrf-failed"));
    }
    let Ok(reference) = ComplaintRef::parse(&form.reference) else {
        return start_page(f, StatusCode::UNPROCESSABLE_ENTITY, &form, false, Some("track-bad-reference"));
    };
    let Ok(email) = EmailAddress::parse(&form.email) else {
        return start_page(f, StatusCode::UNPROCESSABLE_ENTITY, &form, false, Some("field-invalid-email"));
    };
    match s.desk.request_track_code(&reference, &email, client).await {
        Ok(()) => {}
        Err(DeskError::RateLimited { .. }) => return start_page(f, StatusCode::TOO_MANY_REQUESTS, &form, false, Some("rate-limited")),
        Err(e) => {
            tracing::error!(error = %e, "a tracking code could not be issued");
            return start_page(f, StatusCode::SERVICE_UNAVAILABLE, &form, false, Some("track-try-later"));
        }
    }
    let form = SendForm { reference: reference.to_string(), ..form };
    start_page(f, StatusCode::OK, &form, true, None)
}

/// The pass cookie, for the complaint's own pages only.
pub(crate) fn pass_cookie(s: &AppState, reference: &ComplaintRef, pass: &TrackPass) -> HeaderValue {
    let age = pass.expires.duration_since(jiff::Timestamp::now()).as_secs().max(0);
    let mut c = format!("{PASS_COOKIE}={}; Path=/track/{reference}; SameSite=Lax; HttpOnly; Max-Age={age}", pass.value);
    if s.ui.secure_cookies {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("passes are URL-safe")
}

fn to_complaint(s: &AppState, reference: &ComplaintRef, pass: &TrackPass) -> Response {
    let mut res = Redirect::to(&format!("/track/{reference}")).into_response();
    res.headers_mut().append(header::SET_COOKIE, pass_cookie(s, reference, pass));
    secure(res)
}

async fn enter_code(State(s): State<AppState>, ClientIp(client): ClientIp, headers: HeaderMap, Form(form): Form<SendForm>) -> Response {
    let f = frame(&s, &headers, None, None);
    if !csrf_ok(&headers, &form.csrf) {
        return start_page(f, StatusCode::FORBIDDEN, &form, true, Some("csrf-failed"));
    }
    let Ok(reference) = ComplaintRef::parse(&form.reference) else {
        return start_page(f, StatusCode::UNPROCESSABLE_ENTITY, &form, false, Some("track-bad-reference"));
    };
    match s.desk.open_with_code(&reference, &form.code, client).await {
        Ok(pass) => to_complaint(&s, &reference, &pass),
        Err(DeskError::Unauthorized(why)) if why.contains("link") => start_page(f, StatusCode::UNPROCESSABLE_ENTITY, &form, true, Some("track-code-locked")),
        Err(DeskError::Unauthorized(_)) => start_page(f, StatusCode::UNPROCESSABLE_ENTITY, &form, true, Some("track-code-wrong")),
        Err(DeskError::RateLimited { .. }) => start_page(f, StatusCode::TOO_MANY_REQUESTS, &form, true, Some("rate-limited")),
        Err(e) => {
            tracing::error!(error = %e, "a tracking code could not be checked");
            start_page(f, StatusCode::SERVICE_UNAVAILABLE, &form, true, Some("track-try-later"))
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct TrackQuery {
    pub lang: Option<String>,
    pub key: Option<String>,
    /// Back from a reply that was recorded.
    pub sent: Option<String>,
}

fn ask_for_code(reference: &str) -> Response {
    secure(Redirect::to(&format!("/track?ref={}", urlencoding(reference))).into_response())
}

/// A reference as typed into a URL, kept to the characters a reference has.
fn urlencoding(raw: &str) -> String {
    raw.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(20).collect()
}

async fn tracked(State(s): State<AppState>, headers: HeaderMap, Path(raw): Path<String>, Query(q): Query<TrackQuery>) -> Response {
    let Ok(reference) = ComplaintRef::parse(&raw) else { return ask_for_code(&raw) };
    if let Some(key) = q.key.as_deref() {
        // The link from an e-mail: swap the key for a pass, and drop it from the address bar.
        return match s.desk.open_with_link(&reference, key).await {
            Ok(pass) => to_complaint(&s, &reference, &pass),
            Err(DeskError::Unauthorized(why)) => {
                let f = frame(&s, &headers, q.lang.as_deref(), None);
                let key = if why.contains("expired") { "track-link-expired" } else { "track-link-bad" };
                let form = SendForm { reference: reference.to_string(), ..Default::default() };
                start_page(f, StatusCode::UNAUTHORIZED, &form, false, Some(key))
            }
            Err(e) => {
                tracing::error!(error = %e, "a tracking link could not be checked");
                secure((StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response())
            }
        };
    }
    let notice = q.sent.is_some().then(|| crate::ui::Texts::new(crate::ui::negotiate(q.lang.as_deref(), &headers)).t("track-replied"));
    show(&s, &headers, q.lang.as_deref(), &reference, StatusCode::OK, None, notice, String::new()).await
}

#[allow(clippy::too_many_arguments)]
async fn show(
    s: &AppState,
    headers: &HeaderMap,
    lang: Option<&str>,
    reference: &ComplaintRef,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
    reply_text: String,
) -> Response {
    let pass = cookie(headers, PASS_COOKIE);
    let view = match s.desk.tracked(reference, pass.as_deref()).await {
        Ok(v) => v,
        Err(DeskError::Unauthorized(_)) => return ask_for_code(&reference.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "a tracked complaint could not be read");
            return secure((StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response());
        }
    };
    // A merged duplicate: the player goes on where the work is.
    match s.desk.track_merge_target(&view).await {
        Ok(Some((target, Some(pass)))) => return to_complaint(s, &target, &pass),
        // A pass from filing the duplicate proved nothing: the code goes to the target's mailbox.
        Ok(Some((target, None))) => return ask_for_code(&target.to_string()),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "a merged complaint's target could not be read");
            return secure((StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response());
        }
    }
    // The player's own language unless they chose another.
    let lang = lang.or_else(|| cookie(headers, crate::ui::LANG_COOKIE).is_none().then(|| view.complaint.language.as_str()));
    let f = frame(s, headers, lang, None);
    let t = &f.page.texts;
    let c = &view.complaint;
    let files_of = |id: Option<Uuid>| -> Vec<(String, String, String)> {
        view.files.iter().filter(|a| a.message_id == id).map(|a| (a.id.to_string(), a.filename.clone(), crate::ui::file_size(a.size))).collect()
    };
    let mut rows = vec![ThreadRow { mine: true, label: t.t("track-you"), at: t.when(c.created_at), body: c.description.as_str().to_string(), files: files_of(None) }];
    rows.extend(view.messages.iter().map(|m| {
        let mine = m.kind == MessageKind::Inbound;
        ThreadRow { mine, label: t.t(if mine { "track-you" } else { "track-support" }), at: t.when(m.created_at), body: m.body.as_str().to_string(), files: files_of(Some(m.id)) }
    }));
    let expected = c.sla.as_ref().filter(|_| c.status.is_open()).and_then(|s| s.resolution.as_ref()).map(|d| t.when(d.due));
    let cfg = s.desk.tracking_config();
    let page = TrackPage {
        reference: c.reference.to_string(),
        subject: c.subject.as_str().to_string(),
        status_key: c.status.as_str().to_string(),
        status: t.t(&format!("status-{}", c.status.as_str())),
        filed: t.when(c.created_at),
        department: view.department.clone(),
        expected,
        rows,
        resolution: c.resolution.as_ref().filter(|_| !c.status.is_open()).map(|r| (r.measures.as_str().to_string(), r.result.as_str().to_string(), t.when(r.at))),
        can_reply: c.status != Status::Closed,
        resolved: matches!(c.status, Status::Resolved),
        can_rate: matches!(c.status, Status::Resolved | Status::Closed) && c.rating.is_none(),
        rated: c.rating.as_ref().map(|r| (r.score.get(), r.comment.as_ref().map(|b| b.as_str().to_string()).unwrap_or_default())),
        error,
        notice,
        reply_text,
        max_files: cfg.max_files,
        max_mb: cfg.max_file_bytes / (1024 * 1024),
        scores: (1..=5u8).map(|n| (n, t.t(&format!("rate-{n}")))).collect(),
        page: f.page,
    };
    render(status, page.render(), f.set_cookies)
}

/// The message a refused player action shows.
fn refusal(page_texts: &crate::ui::Texts, e: &DeskError) -> Option<String> {
    let key = match e {
        DeskError::Domain(DomainError::Invalid(errors)) => match errors.first().map(|f| f.code) {
            Some("too_many_files") => "file-too-many",
            Some("file_too_large") => "file-too-large",
            Some("empty_file") => "file-empty",
            Some("file_type") => "file-type",
            Some("too_long") => "field-too-long",
            Some("invalid_score") => "rate-pick",
            _ => "field-required",
        },
        DeskError::Domain(DomainError::IllegalTransition { .. }) => "track-not-now",
        _ => return None,
    };
    let detail = match e {
        DeskError::Domain(DomainError::Invalid(errors)) => errors.first().map(|f| f.message.clone()),
        _ => None,
    };
    Some(match detail {
        Some(d) if key.starts_with("file-") => format!("{} ({d})", page_texts.t(key)),
        _ => page_texts.t(key),
    })
}

/// A file as it arrived: spooled to an anonymous temporary file, never held in memory whole.
struct Spooled {
    filename: String,
    file: tokio::fs::File,
    size: usize,
}

enum Refused {
    Csrf,
    TooBig,
    TooMany,
    Broken,
}

/// A small form field (the CSRF token, the text), read to at most `max` bytes.
async fn read_small(field: &mut axum::extract::multipart::Field<'_>, max: usize) -> Result<String, Refused> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|_| Refused::Broken)? {
        if buf.len() + chunk.len() > max {
            return Err(Refused::TooBig);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Reads the reply's form. No file is read before the CSRF field has checked out (the page
/// sends it first), so a forged post is refused before a file byte is read; files go to disk
/// chunk by chunk within the desk's limits, and the request is cut at the first byte over
/// them. The text comes back with a refusal, so the page can keep what the player wrote.
async fn read_reply(headers: &HeaderMap, multipart: &mut Multipart, max_files: usize, max_file: usize) -> (String, Result<Vec<Spooled>, Refused>) {
    let (mut csrf_checked, mut text, mut files) = (false, String::new(), Vec::<Spooled>::new());
    macro_rules! refuse {
        ($why:expr) => {
            return (text, Err($why))
        };
    }
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => refuse!(Refused::TooBig),
            Err(_) => refuse!(Refused::Broken),
        };
        let name = field.name().unwrap_or_default().to_string();
        match (name.as_str(), field.file_name().map(str::to_string)) {
            ("csrf", _) => match read_small(&mut field, 256).await {
                Ok(v) if csrf_ok(headers, &v) => csrf_checked = true,
                Ok(_) => refuse!(Refused::Csrf),
                Err(why) => refuse!(why),
            },
            ("text", _) => match read_small(&mut field, 256 * 1024).await {
                Ok(t) => text = t,
                Err(why) => refuse!(why),
            },
            _ if !csrf_checked => refuse!(Refused::Csrf),
            ("files", Some(filename)) => {
                let mut spooled: Option<Spooled> = None;
                loop {
                    let chunk = match field.chunk().await {
                        Ok(Some(c)) => c,
                        Ok(None) => break,
                        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => refuse!(Refused::TooBig),
                        Err(_) => refuse!(Refused::Broken),
                    };
                    if spooled.is_none() {
                        if files.len() >= max_files {
                            refuse!(Refused::TooMany);
                        }
                        match tempfile::tempfile() {
                            Ok(file) => spooled = Some(Spooled { filename: filename.clone(), file: tokio::fs::File::from_std(file), size: 0 }),
                            Err(e) => {
                                tracing::error!(error = %e, "no temporary file for an upload");
                                refuse!(Refused::Broken)
                            }
                        }
                    }
                    let s = spooled.as_mut().expect("made above");
                    s.size += chunk.len();
                    if s.size > max_file {
                        refuse!(Refused::TooBig);
                    }
                    if s.file.write_all(&chunk).await.is_err() {
                        refuse!(Refused::Broken);
                    }
                }
                match spooled {
                    Some(s) => files.push(s),
                    // A file input left empty still sends a part, with no name and no bytes; a
                    // named empty file is kept, for the desk to refuse as empty.
                    None if filename.is_empty() => {}
                    None => match tempfile::tempfile() {
                        Ok(file) if files.len() < max_files => files.push(Spooled { filename, file: tokio::fs::File::from_std(file), size: 0 }),
                        Ok(_) => refuse!(Refused::TooMany),
                        Err(_) => refuse!(Refused::Broken),
                    },
                }
            }
            // Anything else is drained, within the request's limit.
            _ => loop {
                match field.chunk().await {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => refuse!(Refused::Broken),
                }
            },
        }
    }
    if !csrf_checked {
        refuse!(Refused::Csrf);
    }
    (text, Ok(files))
}

async fn reply(State(s): State<AppState>, headers: HeaderMap, Path(raw): Path<String>, mut multipart: Multipart) -> Response {
    let Ok(reference) = ComplaintRef::parse(&raw) else { return ask_for_code(&raw) };
    let texts = crate::ui::Texts::new(crate::ui::negotiate(None, &headers));
    // Who may send: checked before a byte of the body is read.
    let pass = cookie(&headers, PASS_COOKIE);
    match s.desk.check_track_pass(&reference, pass.as_deref()).await {
        Ok(()) => {}
        Err(DeskError::Unauthorized(_)) => return ask_for_code(&reference.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "a tracking pass could not be checked");
            return secure((StatusCode::SERVICE_UNAVAILABLE, texts.t("track-try-later")).into_response());
        }
    }
    if cookie(&headers, CSRF_COOKIE).is_none() {
        return show(&s, &headers, None, &reference, StatusCode::FORBIDDEN, Some(texts.t("csrf-failed")), None, String::new()).await;
    }
    let cfg = s.desk.tracking_config();
    let (text, spooled) = read_reply(&headers, &mut multipart, cfg.max_files, cfg.max_file_bytes).await;
    let spooled = match spooled {
        Ok(x) => x,
        Err(why) => {
            let (status, key) = match why {
                Refused::Csrf => (StatusCode::FORBIDDEN, "csrf-failed"),
                Refused::TooBig => (StatusCode::PAYLOAD_TOO_LARGE, "file-too-large"),
                Refused::TooMany => (StatusCode::UNPROCESSABLE_ENTITY, "file-too-many"),
                Refused::Broken => (StatusCode::BAD_REQUEST, "track-try-later"),
            };
            return show(&s, &headers, None, &reference, status, Some(texts.t(key)), None, text).await;
        }
    };
    let Ok(body) = Body::parse(&text) else {
        let key = if text.trim().is_empty() { "track-reply-required" } else { "field-too-long" };
        return show(&s, &headers, None, &reference, StatusCode::UNPROCESSABLE_ENTITY, Some(texts.t(key)), None, text).await;
    };
    // Read back under the node's upload memory budget: twenty large uploads at once wait their
    // turn here instead of all sitting in memory.
    let total: usize = spooled.iter().map(|f| f.size).sum();
    let kib = u32::try_from(total.div_ceil(1024).clamp(1, crate::UPLOAD_MEMORY_KIB)).unwrap_or(u32::MAX);
    let Ok(_held) = s.upload_memory.clone().acquire_many_owned(kib).await else {
        return show(&s, &headers, None, &reference, StatusCode::SERVICE_UNAVAILABLE, Some(texts.t("track-try-later")), None, text).await;
    };
    let mut uploads = Vec::with_capacity(spooled.len());
    for mut f in spooled {
        let mut data = Vec::with_capacity(f.size);
        let read = async {
            f.file.seek(std::io::SeekFrom::Start(0)).await?;
            f.file.read_to_end(&mut data).await
        };
        if let Err(e) = read.await {
            tracing::error!(error = %e, "a spooled upload could not be read back");
            return show(&s, &headers, None, &reference, StatusCode::SERVICE_UNAVAILABLE, Some(texts.t("track-try-later")), None, text).await;
        }
        uploads.push(Upload { filename: f.filename, data });
    }
    let result = match s.desk.check_uploads(uploads) {
        Ok(files) => s.desk.player_reply(&reference, pass.as_deref(), body, files).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => secure(Redirect::to(&format!("/track/{reference}?sent=1")).into_response()),
        Err(DeskError::Unauthorized(_)) => ask_for_code(&reference.to_string()),
        Err(e) => match refusal(&texts, &e) {
            Some(message) => show(&s, &headers, None, &reference, StatusCode::UNPROCESSABLE_ENTITY, Some(message), None, text).await,
            None => {
                tracing::error!(error = %e, "a player's reply could not be recorded");
                show(&s, &headers, None, &reference, StatusCode::SERVICE_UNAVAILABLE, Some(texts.t("track-try-later")), None, text).await
            }
        },
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct RateForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub score: String,
    #[serde(default)]
    pub comment: String,
}

async fn rate(State(s): State<AppState>, headers: HeaderMap, Path(raw): Path<String>, Form(form): Form<RateForm>) -> Response {
    let Ok(reference) = ComplaintRef::parse(&raw) else { return ask_for_code(&raw) };
    let texts = crate::ui::Texts::new(crate::ui::negotiate(None, &headers));
    if !csrf_ok(&headers, &form.csrf) {
        return show(&s, &headers, None, &reference, StatusCode::FORBIDDEN, Some(texts.t("csrf-failed")), None, String::new()).await;
    }
    let Ok(score) = CsatScore::parse(&form.score) else {
        return show(&s, &headers, None, &reference, StatusCode::UNPROCESSABLE_ENTITY, Some(texts.t("rate-pick")), None, String::new()).await;
    };
    let comment = match form.comment.trim() {
        "" => None,
        c => match Body::parse(c) {
            Ok(b) if c.chars().count() <= 2_000 => Some(b),
            _ => return show(&s, &headers, None, &reference, StatusCode::UNPROCESSABLE_ENTITY, Some(texts.t("field-too-long")), None, String::new()).await,
        },
    };
    let pass = cookie(&headers, PASS_COOKIE);
    match s.desk.rate(&reference, pass.as_deref(), score, comment).await {
        Ok(_) => show(&s, &headers, None, &reference, StatusCode::OK, None, Some(texts.t("rate-thanks")), String::new()).await,
        Err(DeskError::Unauthorized(_)) => ask_for_code(&reference.to_string()),
        Err(e) => match refusal(&texts, &e) {
            Some(message) => show(&s, &headers, None, &reference, StatusCode::CONFLICT, Some(message), None, String::new()).await,
            None => {
                tracing::error!(error = %e, "a rating could not be recorded");
                show(&s, &headers, None, &reference, StatusCode::SERVICE_UNAVAILABLE, Some(texts.t("track-try-later")), None, String::new()).await
            }
        },
    }
}

async fn file(State(s): State<AppState>, headers: HeaderMap, Path((raw, id)): Path<(String, String)>) -> Response {
    let (Ok(reference), Ok(id)) = (ComplaintRef::parse(&raw), Uuid::parse_str(&id)) else {
        return secure(StatusCode::NOT_FOUND.into_response());
    };
    let pass = cookie(&headers, PASS_COOKIE);
    match s.desk.tracked_file(&reference, pass.as_deref(), id).await {
        Ok((info, data)) => crate::api::download(data, &info.content_type, &info.filename),
        Err(DeskError::Unauthorized(_)) => ask_for_code(&reference.to_string()),
        Err(DeskError::NotFound(_)) => secure(StatusCode::NOT_FOUND.into_response()),
        Err(e) => {
            tracing::error!(error = %e, "a file could not be read");
            secure(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}
