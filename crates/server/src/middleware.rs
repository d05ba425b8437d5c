//! Per-request plumbing: the request id (see `request_id`: on every response as `X-Request-Id`,
//! inside error bodies and in a `request` span around everything logged while handling it),
//! the one access-log
//! line per request, the conversion of stray error responses into our envelope, and the
//! per-IP rate limit.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::{Instrument, error, info, warn};
use uuid::Uuid;

use crate::client_ip::{ClientIp, client_ip};
use crate::error::{ErrorLog, OwnBody, envelope_for_status};
use crate::request_id;
use crate::state::AppState;

/// Where the authentication extractor leaves the caller's user id for the access log.
#[derive(Debug, Clone, Default)]
pub struct UserSlot(Arc<OnceLock<Uuid>>);

impl UserSlot {
    pub fn set(&self, user_id: Uuid) {
        let _ = self.0.set(user_id);
    }
}

pub async fn request_context(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request_id::for_request(req.headers());
    let method = req.method().clone();
    let matched = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let route = matched.clone().unwrap_or_else(|| req.uri().path().to_string());
    let user = UserSlot::default();
    req.extensions_mut().insert(user.clone());

    // MCP's transport errors (JSON-RPC error bodies, session-not-found) are part of that
    // protocol and are read by MCP clients, so they pass through unchanged.
    let is_mcp = req.uri().path() == "/mcp" || req.uri().path().starts_with("/mcp/");
    // Every line logged while the request is handled (services, store, jobs it submits) sits
    // in this span, so it carries the request id as the access-log line does.
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = request_id::scope(request_id.clone(), next.run(req).instrument(span)).await;
    if (response.status().is_client_error() || response.status().is_server_error())
        && response.extensions().get::<ErrorLog>().is_none()
        && response.extensions().get::<OwnBody>().is_none()
        && !is_mcp
    {
        response = request_id::sync_scope(request_id.clone(), || envelope_for_status(&response));
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }

    let status = response.status().as_u16();
    let latency = started.elapsed();
    crate::metrics::http_request(method.as_str(), matched.as_deref(), status, latency);
    let latency_ms = latency.as_secs_f64() * 1000.0;
    let user_id = user.0.get().map(ToString::to_string).unwrap_or_default();
    let log = response.extensions().get::<ErrorLog>();
    let code = log.map(|l| l.code).unwrap_or("");
    match log.and_then(|l| l.internal.as_deref()) {
        Some(cause) => {
            error!(request_id, %method, route, status, latency_ms, user_id, code, cause, "request failed")
        }
        None if status >= 500 => {
            error!(request_id, %method, route, status, latency_ms, user_id, code, "request failed")
        }
        None if status == 429 => {
            warn!(request_id, %method, route, status, latency_ms, user_id, code, "request rate-limited")
        }
        None => info!(request_id, %method, route, status, latency_ms, user_id, code, "request"),
    }
    response
}

/// Works out the client's address (through trusted proxies) and applies the per-client-IP
/// limit before anything else runs; handlers find the address as a [`ClientIp`] extension.
pub async fn ip_rate_limit(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        let ip = client_ip(addr.ip(), req.headers(), &state.trusted_proxies);
        req.extensions_mut().insert(ClientIp(ip));
        if let Err(e) = state.limits.check_ip(ip).await {
            return e.into_response();
        }
    }
    next.run(req).await
}
