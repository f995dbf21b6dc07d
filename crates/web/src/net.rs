//! The accept loop: HTTP/1.1 over hyper with limits that hold before a request is read.
//!
//! `axum::serve` has no header or body timeouts and no cap on connections, so a few thousand
//! half-open connections used to starve the process of file descriptors (the health check went
//! unanswered for over a minute). Here every connection:
//! - counts against a total cap (lowered to fit the open-file limit) and a cap per client address
//!   (an IPv6 client's /64); past either it is closed at once, before anything is read;
//! - must send its request line and headers within `header_timeout` (hyper's header read timer,
//!   which also runs while a kept-alive connection waits for its next request);
//! - must not fall silent for longer than `body_timeout` while sending a body;
//! - carries its peer address as `ConnectInfo<SocketAddr>` for the per-client budgets.
//!
//! WebSocket upgrades leave these limits behind once upgraded: the chat sockets keep their own
//! ping and idle rules.

use crate::NetConfig;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// Descriptors kept free for everything but client connections (the store's pool, the SMTP
/// listener, files, the IMAP poller).
const RESERVED_FDS: usize = 128;

/// The total cap actually used: the configured one, or less where the soft open-file limit
/// would be reached first.
pub fn connection_cap(configured: usize) -> usize {
    match open_file_limit() {
        Some(limit) => configured.min(limit.saturating_sub(RESERVED_FDS).max(16)),
        None => configured,
    }
}

/// The soft `RLIMIT_NOFILE`, read from `/proc/self/limits` (Linux); `None` elsewhere.
fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Accepts connections until `shutdown` resolves, then lets the requests in flight finish
/// (at most 30 s).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &NetConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let total = Arc::new(Semaphore::new(connection_cap(config.max_connections)));
    let per_address = Arc::new(ombuds_core::clients::Slots::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(config.header_timeout).keep_alive(true).max_buf_size(64 * 1024);
    let builder = Arc::new(builder);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or a connection reset before it was
                    // taken: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = total.clone().try_acquire_owned() else {
            metrics::counter!("ombuds_http_connections_refused_total", "why" => "total").increment(1);
            drop(stream);
            continue;
        };
        let slot = if config.trusted_proxies.contains(&peer.ip()) {
            None
        } else {
            match per_address.take(peer.ip(), config.max_connections_per_address) {
                Some(s) => Some(s),
                None => {
                    metrics::counter!("ombuds_http_connections_refused_total", "why" => "per_address").increment(1);
                    drop(stream);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let body_timeout = config.body_timeout;
        let service = app.clone().map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.map(|b| axum::body::Body::new(TimeoutBody::new(body_timeout, b)))
        });
        let builder = builder.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(30), conn.as_mut()).await;
                }
            }
            drop(slot);
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    // The connections drop their permits as they finish; wait for them (bounded).
    let all = u32::try_from(connection_cap(config.max_connections)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(31), total.acquire_many(all)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_open_file_limit() {
        let cap = connection_cap(usize::MAX);
        if let Some(limit) = open_file_limit() {
            assert!(cap < limit, "{cap} connections would not fit {limit} descriptors");
        }
        assert_eq!(connection_cap(10), 10.min(cap));
    }
}
