//! ombuds over HTTP. Only this crate knows axum. `router` builds the whole application;
//! `serve` runs it until shutdown.

pub mod api;
pub mod chat;
pub mod console;
pub mod cti;
pub mod extract;
pub mod faq;
pub mod problem;
pub mod routing;
pub mod sla;
pub mod admin;
pub mod track;
pub mod workspace;
pub mod ui;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ombuds_desk::Desk;
use problem::Problem;
use std::sync::OnceLock;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

#[derive(Clone)]
pub struct AppState {
    pub desk: Desk,
    metrics: PrometheusHandle,
    pub chat: std::sync::Arc<chat::ChatWebConfig>,
    pub ui: std::sync::Arc<UiConfig>,
    pub net: std::sync::Arc<NetConfig>,
    /// Bytes of uploaded files held in memory at once, in KiB: uploads are spooled to disk
    /// while they arrive and read back only under this budget, to be stored.
    pub upload_memory: std::sync::Arc<tokio::sync::Semaphore>,
}

/// The budget behind [`AppState::upload_memory`]: 64 MiB.
pub const UPLOAD_MEMORY_KIB: usize = 64 * 1024;

/// How the server meets the network: limits applied to every connection before any request
/// is read, and whom to believe about a client's address.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Reverse proxies whose `X-Forwarded-For` names the client (budgets per client address
    /// use it); nobody else's is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Time a client has to send a request's line and headers, from the moment the server waits
    /// for them: a new connection, and an idle kept-alive one, is closed past it.
    pub header_timeout: std::time::Duration,
    /// The longest silence while a request body is being read (a slow upload that keeps
    /// sending is fine; one that stops is cut).
    pub body_timeout: std::time::Duration,
    /// Connections at once in all (lowered to what the process's open-file limit allows)…
    pub max_connections: usize,
    /// …and from one client address (an IPv6 client's /64). Trusted proxies are not capped.
    pub max_connections_per_address: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            // A reverse proxy on the same machine is the usual deployment: it is not capped per
            // address (every player would share its one address), and its X-Forwarded-For is
            // believed. Only processes on this machine can connect from loopback.
            trusted_proxies: vec![std::net::IpAddr::from([127, 0, 0, 1]), std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)],
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(30),
            max_connections: 8192,
            max_connections_per_address: 256,
        }
    }
}

/// The workspace pages' settings.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Mark cookies `Secure` (sent over HTTPS only). Turn off only for plain-HTTP development
    /// on a machine's own address.
    pub secure_cookies: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig { secure_cookies: true }
    }
}

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    pub chat: chat::ChatWebConfig,
    pub ui: UiConfig,
    pub net: NetConfig,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { body_limit: 256 * 1024, chat: chat::ChatWebConfig::default(), ui: UiConfig::default(), net: NetConfig::default() }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "ombuds", description = "Complaint and feedback desk: register, route, analyse, resolve and report on player complaints.

Who may call what: each operation's `security` names what it needs (any one suffices).
`complaints:read` / `complaints:write`: agents (within their departments, or what is assigned
to them) and API tokens with that scope (`admin` tokens hold every scope). A token with only
`complaints:write` registers complaints (the 201 answer carries the complaint it registered)
and sends commands (answered 204, without the complaint), but reads nothing. `cti`: tokens
with the `cti` scope (the PBX), never agents. `agent`: agent sessions only. `supervisor`:
supervisors and administrators (and `admin` tokens). `admin`: administrators and `admin`
tokens. An empty list: any session or token. No `security`: no credentials needed. Refusals:
401 without valid credentials, 403 without the scope or role, 404 for a complaint out of the
caller's departments (references cannot be probed)."),
    paths(
        api::register, api::list, api::get, api::events, api::jobs, api::mails, api::mail_raw, api::attachments, api::attachment,
        api::route, api::assign, api::unassign, api::add_message, api::propose_solution, api::request_information,
        api::player_reply, api::resolve, api::close, api::reopen, api::merge, api::escalate, api::deescalate, api::priority, api::tags,
        api::departments, api::put_department, api::agents, api::add_agent, api::update_agent, api::disable_agent, api::enable_agent,
        api::login, api::logout, api::me, api::change_password, api::start_totp, api::confirm_totp, api::disable_totp, api::tokens, api::create_token, api::revoke_token, api::audit_verify,
        cti::post_event, cti::get_call, cti::player_calls, cti::complaint_calls, cti::register_from_call, cti::attach, cti::callbacks, cti::finish_callback, cti::set_extension, cti::remove_extension, cti::extensions,
        routing::get_rules, routing::put_rules, routing::dry_run, routing::train, sla::settings, sla::put_settings, sla::at_risk, faq::list, faq::create, faq::update, faq::all, faq::feedback, chat::agent_ws_doc,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    tags((name = "complaints"), (name = "commands", description = "One endpoint per lifecycle command"), (name = "directory"), (name = "auth"), (name = "audit"), (name = "routing", description = "Routing rules, dry run, classifier training"), (name = "sla", description = "Service levels: settings and the at-risk list"), (name = "faq", description = "The public FAQ"), (name = "chat", description = "The agents' chat console (WebSocket)"))
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
                .expect("buckets")
                .build_recorder();
            let handle = recorder.handle();
            // A second desk in the same process (tests) shares the first recorder.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The `/api/v1` routes. One list builds the router and answers [`api_routes`], so a test can
/// check every route against the OpenAPI document (and so against the authorization table).
pub(crate) struct Routes {
    router: Router<AppState>,
    list: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn on<H, T>(mut self, method: &'static str, path: &'static str, h: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => axum::routing::MethodFilter::GET,
            "POST" => axum::routing::MethodFilter::POST,
            "PUT" => axum::routing::MethodFilter::PUT,
            "PATCH" => axum::routing::MethodFilter::PATCH,
            "DELETE" => axum::routing::MethodFilter::DELETE,
            other => panic!("no route method {other}"),
        };
        self.router = self.router.route(path, axum::routing::on(filter, h));
        self.list.push((method, path));
        self
    }
    pub(crate) fn get<H: axum::handler::Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.on("GET", path, h)
    }
    pub(crate) fn post<H: axum::handler::Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.on("POST", path, h)
    }
    pub(crate) fn put<H: axum::handler::Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.on("PUT", path, h)
    }
    pub(crate) fn patch<H: axum::handler::Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.on("PATCH", path, h)
    }
    pub(crate) fn delete<H: axum::handler::Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.on("DELETE", path, h)
    }
}

fn api_v1() -> Routes {
    let r = Routes { router: Router::new(), list: vec![] }
        .post("/complaints", api::register)
        .get("/complaints", api::list)
        .get("/complaints/{reference}", api::get)
        .get("/complaints/{reference}/events", api::events)
        .get("/complaints/{reference}/jobs", api::jobs)
        .get("/complaints/{reference}/mails", api::mails)
        .get("/complaints/{reference}/mails/{id}/raw", api::mail_raw)
        .get("/complaints/{reference}/attachments", api::attachments)
        .get("/complaints/{reference}/attachments/{id}", api::attachment)
        .post("/complaints/{reference}/route", api::route)
        .post("/complaints/{reference}/assign", api::assign)
        .post("/complaints/{reference}/unassign", api::unassign)
        .post("/complaints/{reference}/messages", api::add_message)
        .post("/complaints/{reference}/propose-solution", api::propose_solution)
        .post("/complaints/{reference}/request-information", api::request_information)
        .post("/complaints/{reference}/player-replies", api::player_reply)
        .post("/complaints/{reference}/resolve", api::resolve)
        .post("/complaints/{reference}/close", api::close)
        .post("/complaints/{reference}/reopen", api::reopen)
        .post("/complaints/{reference}/merge", api::merge)
        .post("/complaints/{reference}/escalate", api::escalate)
        .post("/complaints/{reference}/deescalate", api::deescalate)
        .post("/complaints/{reference}/priority", api::priority)
        .post("/complaints/{reference}/tags", api::tags)
        .get("/departments", api::departments)
        .put("/departments/{code}", api::put_department)
        .get("/agents", api::agents)
        .post("/agents", api::add_agent)
        .patch("/agents/{login}", api::update_agent)
        .post("/agents/{login}/disable", api::disable_agent)
        .post("/agents/{login}/enable", api::enable_agent)
        .post("/auth/login", api::login)
        .post("/auth/logout", api::logout)
        .get("/me", api::me)
        .post("/me/password", api::change_password)
        .post("/me/totp", api::start_totp)
        .delete("/me/totp", api::disable_totp)
        .post("/me/totp/confirm", api::confirm_totp)
        .get("/tokens", api::tokens)
        .post("/tokens", api::create_token)
        .delete("/tokens/{id}", api::revoke_token)
        .get("/audit/verify", api::audit_verify)
        .get("/routing/rules", routing::get_rules)
        .put("/routing/rules", routing::put_rules)
        .post("/routing/dry-run", routing::dry_run)
        .post("/routing/train", routing::train)
        .get("/sla", sla::settings)
        .put("/sla", sla::put_settings)
        .get("/sla/at-risk", sla::at_risk)
        .get("/faq", faq::list)
        .post("/faq", faq::create)
        .get("/faq/all", faq::all)
        .put("/faq/{id}", faq::update)
        .post("/faq/{id}/feedback", faq::feedback)
        .get("/chat/ws", chat::agent_ws);
    cti::routes(r)
}

/// Every `/api/v1` route as (method, path under `/api/v1`), in the order the router adds them.
pub fn api_routes() -> Vec<(&'static str, &'static str)> {
    api_v1().list
}

pub fn router(desk: Desk, config: &WebConfig) -> Router {
    let state = AppState {
        desk,
        metrics: metrics_handle(),
        chat: std::sync::Arc::new(config.chat.clone()),
        ui: std::sync::Arc::new(config.ui.clone()),
        net: std::sync::Arc::new(config.net.clone()),
        upload_memory: std::sync::Arc::new(tokio::sync::Semaphore::new(UPLOAD_MEMORY_KIB)),
    };
    // The player's side of the chat, called from the operator's pages (CORS).
    let player_chat = Router::new()
        .route("/chat/v1/status", get(chat::status).options(chat::preflight))
        .route("/chat/v1/chats", post(chat::start).options(chat::preflight))
        .route("/chat/v1/offline", post(chat::offline).options(chat::preflight))
        .layer(middleware::from_fn_with_state(state.clone(), chat::cors));
    let v1 = api_v1().router;
    Router::new()
        .nest("/api/v1", v1)
        .merge(player_chat)
        .merge(ui::routes())
        .merge(admin::routes())
        .merge(workspace::routes())
        .merge(console::routes())
        .merge(track::routes())
        .route("/chat/v1/ws", get(chat::player_ws))
        .route("/chat/widget.js", get(chat::widget))
        .route("/api/openapi.json", get(openapi))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .fallback(|| async { Problem::new("not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async { Problem::new("method_not_allowed", "this endpoint does not take that method") })
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(middleware::from_fn(problem::rejections_as_problems))
        .layer(middleware::from_fn(track))
        .layer(CatchPanicLayer::custom(|_| Problem::new("internal", "something went wrong on our side; it was logged").into_response()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::debug_span!("request", method = %req.method(), uri = %redact_uri(req.uri()), version = ?req.version())
        }))
        .with_state(state)
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], ApiDoc::openapi().to_pretty_json().expect("openapi serialises"))
}

async fn readyz(State(s): State<AppState>) -> Response {
    match s.desk.store().ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Problem::new("unavailable", "store unreachable").into_response()
        }
    }
}

/// Prometheus metrics: an administrator, or a token with the `metrics` scope (docs/security.md).
async fn render_metrics(State(s): State<AppState>, extract::Auth(who): extract::Auth) -> problem::ApiResult<Response> {
    who.may_read_metrics()?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render()).into_response())
}

/// Query parameters whose values are secrets (a tracking link's key is a 30-day pass).
const SECRET_PARAMS: &[&str] = &["key", "token", "code", "secret", "pass", "password"];

/// A request's URI as logs may record it: on `/track` paths no query at all; elsewhere the
/// values of secret-looking parameters (`key=`, `token=`, …) replaced by `[redacted]`.
pub fn redact_uri(uri: &axum::http::Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else { return path.to_string() };
    if path == "/track" || path.starts_with("/track/") {
        return format!("{path}?[redacted]");
    }
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            let plain = name.to_ascii_lowercase().replace("%5f", "_");
            if SECRET_PARAMS.iter().any(|s| plain == *s || plain.ends_with(&format!("_{s}"))) { format!("{name}=[redacted]") } else { pair.to_string() }
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

/// Request count and latency per route and status.
async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::histogram!("ombuds_http_request_seconds", "method" => method.clone(), "route" => route.clone(), "status" => status.clone())
        .record(start.elapsed().as_secs_f64());
    res
}

/// Serves until `shutdown` resolves, then finishes the requests in flight, with the default
/// connection limits ([`NetConfig::default`]).
pub async fn serve(listener: tokio::net::TcpListener, app: Router, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    net::serve(listener, app, &NetConfig::default(), shutdown).await
}

pub mod net;

#[cfg(test)]
mod tests {
    use super::redact_uri;

    fn r(u: &str) -> String {
        redact_uri(&u.parse().unwrap())
    }

    #[test]
    fn tracking_links_and_secret_parameters_never_reach_the_log() {
        assert_eq!(r("/track/ABCD-1234?key=s3cr3t"), "/track/ABCD-1234?[redacted]");
        assert_eq!(r("/track?ref=ABCD&code=123456"), "/track?[redacted]");
        assert_eq!(r("/track/ABCD-1234"), "/track/ABCD-1234");
        assert_eq!(r("/ui/queue?view=mine&key=abc&lang=ru"), "/ui/queue?view=mine&key=[redacted]&lang=ru");
        assert_eq!(r("/x?KEY=abc&api_token=t&q=key%3Dv"), "/x?KEY=[redacted]&api_token=[redacted]&q=key%3Dv");
        assert_eq!(r("/api/v1/complaints?status=new"), "/api/v1/complaints?status=new");
        for secret in ["s3cr3t", "abc", "123456"] {
            assert!(!r(&format!("/track/R?key={secret}")).contains(secret));
        }
    }
}
