//! Request extractors whose rejections are problem documents.

use crate::AppState;
use crate::problem::{ApiError, Problem};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use ombuds_core::Principal;
use std::net::{IpAddr, SocketAddr};
use serde::de::DeserializeOwned;

/// JSON body: 415 without an `application/json` content type, 413 over the body limit,
/// 400 when it is not JSON, 422 when it is JSON of the wrong shape. An empty body reads as
/// `{}`, so commands without fields need no body.
pub struct ApiJson<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json_type = is_json(req.headers());
        let declared_len = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new("payload_too_large", "the request body is larger than this server accepts")
            } else {
                Problem::new("bad_request", format!("cannot read the request body: {e}"))
            }
        })?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        if !json_type && (!bytes.is_empty() || declared_len.unwrap_or(0) != 0) {
            return Err(Problem::new("unsupported_media_type", "send the body as application/json").into());
        }
        match serde_json::from_slice::<T>(body) {
            Ok(v) => Ok(ApiJson(v)),
            Err(e) if e.is_data() => Err(Problem::new("validation_failed", e.to_string()).into()),
            Err(e) => Err(Problem::new("malformed_json", e.to_string()).into()),
        }
    }
}

/// The authenticated caller, from `Authorization: Bearer …`.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = bearer(&parts.headers).ok_or_else(|| Problem::new("unauthorized", "send Authorization: Bearer <session or API token>"))?;
        Ok(Auth(state.desk.authenticate(bearer).await?))
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get("idempotency-key") else { return Ok(IdempotencyKey(None)) };
        let ok = v.to_str().ok().filter(|s| (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()));
        match ok {
            Some(s) => Ok(IdempotencyKey(Some(s.to_string()))),
            None => Err(Problem::new("bad_request", "Idempotency-Key must be 1 to 255 visible ASCII characters").into()),
        }
    }
}

/// The client's address, for budgets per client: the connection's peer, or, when the peer is
/// one of the configured trusted proxies, the nearest address in `X-Forwarded-For` that is not
/// one of them. `None` only where no connection address is known (a router driven in-process).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, &state.net.trusted_proxies)))
    }
}

pub fn client_ip(parts: &Parts, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    // Walk the chain from the nearest hop; the first address not ours is the client.
    let mut hops: Vec<IpAddr> = vec![];
    for v in parts.headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else { return Some(peer) };
        for h in v.split(',') {
            match h.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                Err(_) => return Some(peer),
            }
        }
    }
    Some(hops.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(peer: &str, xff: &[&str]) -> Parts {
        let mut b = Request::builder();
        for h in xff {
            b = b.header("x-forwarded-for", *h);
        }
        let (mut p, _) = b.body(()).unwrap().into_parts();
        p.extensions.insert(axum::extract::ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        p
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // No proxy configured: the header is the client's to forge.
        assert_eq!(client_ip(&parts("203.0.113.9:5000", &["1.2.3.4"]), &[]), ip("203.0.113.9"));
        assert_eq!(client_ip(&parts("10.0.0.5:5000", &["198.51.100.7"]), &[proxy]), ip("198.51.100.7"));
        // A client that sends its own header before the proxy appends the real one.
        assert_eq!(client_ip(&parts("10.0.0.5:5000", &["1.2.3.4, 198.51.100.7"]), &[proxy]), ip("198.51.100.7"));
        assert_eq!(client_ip(&parts("10.0.0.5:5000", &["1.2.3.4", "198.51.100.7, 10.0.0.5"]), &[proxy]), ip("198.51.100.7"));
        assert_eq!(client_ip(&parts("10.0.0.5:5000", &["garbage"]), &[proxy]), ip("10.0.0.5"));
        assert_eq!(client_ip(&parts("10.0.0.5:5000", &[]), &[proxy]), ip("10.0.0.5"));
        let (no_peer, _) = Request::builder().body(()).unwrap().into_parts();
        assert_eq!(client_ip(&no_peer, &[]), None);
    }
}
