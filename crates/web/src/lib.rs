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
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
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
            trusted_proxies: vec![],
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
    info(title = "ombuds", description = "Complaint and feedback desk: register, route, analyse, resolve and report on player complaints."),
    paths(
        api::register, api::list, api::get, api::events, api::jobs, api::mails, api::mail_raw, api::attachments, api::attachment,
        api::route, api::assign, api::unassign, api::add_message, api::propose_solution, api::request_information,
        api::player_reply, api::resolve, api::close, api::reopen, api::merge, api::escalate, api::deescalate, api::priority, api::tags,
        api::departments, api::put_department, api::agents, api::add_agent, api::update_agent, api::disable_agent, api::enable_agent,
        api::login, api::logout, api::me, api::change_password, api::start_totp, api::confirm_totp, api::disable_totp, api::tokens, api::create_token, api::revoke_token, api::audit_verify,
        cti::post_event, cti::get_call, cti::player_calls, cti::complaint_calls, cti::register_from_call, cti::attach, cti::callbacks, cti::finish_callback, cti::set_extension, cti::remove_extension, cti::extensions,
        routing::get_rules, routing::put_rules, routing::dry_run, routing::train, sla::settings, sla::put_settings, sla::at_risk, faq::list, faq::create, faq::update, faq::all, faq::feedback,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    tags((name = "complaints"), (name = "commands", description = "One endpoint per lifecycle command"), (name = "directory"), (name = "auth"), (name = "audit"), (name = "routing", description = "Routing rules, dry run, classifier training"), (name = "sla", description = "Service levels: settings and the at-risk list"), (name = "faq", description = "The public FAQ"))
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
    let v1 = Router::new()
        .route("/complaints", post(api::register).get(api::list))
        .route("/complaints/{reference}", get(api::get))
        .route("/complaints/{reference}/events", get(api::events))
        .route("/complaints/{reference}/jobs", get(api::jobs))
        .route("/complaints/{reference}/mails", get(api::mails))
        .route("/complaints/{reference}/mails/{id}/raw", get(api::mail_raw))
        .route("/complaints/{reference}/attachments", get(api::attachments))
        .route("/complaints/{reference}/attachments/{id}", get(api::attachment))
        .route("/complaints/{reference}/route", post(api::route))
        .route("/complaints/{reference}/assign", post(api::assign))
        .route("/complaints/{reference}/unassign", post(api::unassign))
        .route("/complaints/{reference}/messages", post(api::add_message))
        .route("/complaints/{reference}/propose-solution", post(api::propose_solution))
        .route("/complaints/{reference}/request-information", post(api::request_information))
        .route("/complaints/{reference}/player-replies", post(api::player_reply))
        .route("/complaints/{reference}/resolve", post(api::resolve))
        .route("/complaints/{reference}/close", post(api::close))
        .route("/complaints/{reference}/reopen", post(api::reopen))
        .route("/complaints/{reference}/merge", post(api::merge))
        .route("/complaints/{reference}/escalate", post(api::escalate))
        .route("/complaints/{reference}/deescalate", post(api::deescalate))
        .route("/complaints/{reference}/priority", post(api::priority))
        .route("/complaints/{reference}/tags", post(api::tags))
        .route("/departments", get(api::departments))
        .route("/departments/{code}", put(api::put_department))
        .route("/agents", get(api::agents).post(api::add_agent))
        .route("/agents/{login}", axum::routing::patch(api::update_agent))
        .route("/agents/{login}/disable", post(api::disable_agent))
        .route("/agents/{login}/enable", post(api::enable_agent))
        .route("/auth/login", post(api::login))
        .route("/auth/logout", post(api::logout))
        .route("/me", get(api::me))
        .route("/me/password", post(api::change_password))
        .route("/me/totp", post(api::start_totp).delete(api::disable_totp))
        .route("/me/totp/confirm", post(api::confirm_totp))
        .route("/tokens", get(api::tokens).post(api::create_token))
        .route("/tokens/{id}", axum::routing::delete(api::revoke_token))
        .route("/audit/verify", get(api::audit_verify))
        .route("/routing/rules", get(routing::get_rules).put(routing::put_rules))
        .route("/routing/dry-run", post(routing::dry_run))
        .route("/routing/train", post(routing::train))
        .route("/sla", get(sla::settings).put(sla::put_settings))
        .route("/sla/at-risk", get(sla::at_risk))
        .route("/faq", get(faq::list).post(faq::create))
        .route("/faq/all", get(faq::all))
        .route("/faq/{id}", axum::routing::put(faq::update))
        .route("/faq/{id}/feedback", post(faq::feedback))
        .merge(cti::routes())
        .route("/chat/ws", get(chat::agent_ws));
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
        .layer(middleware::from_fn(track))
        .layer(CatchPanicLayer::custom(|_| Problem::new("internal", "something went wrong on our side; it was logged").into_response()))
        .layer(TraceLayer::new_for_http())
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
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable").into_response()
        }
    }
}

async fn render_metrics(State(s): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
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
