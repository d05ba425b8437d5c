//! MCP: the Streamable HTTP service nested at `/mcp` ([`router`]), its tools ([`tools`], and the
//! task tools `todo_*` in `todo_tools`), the
//! same tools opened in process for the AI agent ([`agent_tools`]), and the stdio proxy behind
//! `teamcontext mcp` ([`proxy`]).
//!
//! Every request to `/mcp` is authenticated like REST (the bearer API key or access token goes
//! through the same extractor and per-credential rate limit) and the resulting [`Caller`] rides in
//! the request's extensions, where rmcp hands it on to the tool. Authentication is per request,
//! not per session, so a revoked key stops working mid-session. A session answers only the user
//! who opened it, on any replica ([`sessions`]).

pub mod agent_tools;
pub mod proxy;
pub mod sessions;
mod story_tools;
mod todo_tools;
pub mod tools;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tc_domain::Caller;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Origins};
use crate::extract::Auth;
use crate::state::AppState;

pub use tools::TeamContextMcp;

/// `/mcp` behind bearer authentication.
pub fn router(state: AppState, config: &Config, shutdown: CancellationToken) -> Router<AppState> {
    Router::new()
        .nest_service("/mcp", service(state.clone(), config, shutdown))
        .layer(from_fn_with_state(state.clone(), sessions::guard))
        .layer(from_fn_with_state(state, authenticate))
}

/// The MCP service without authentication: it expects a [`Caller`] in each request's extensions.
/// [`router`] puts one there; only a test harness (the official conformance suite cannot send a
/// credential) may put one there another way. Cancelling `shutdown` ends open sessions and
/// streams, so a graceful shutdown does not wait on clients that keep a stream open.
pub fn service(
    state: AppState,
    config: &Config,
    shutdown: CancellationToken,
) -> StreamableHttpService<TeamContextMcp, LocalSessionManager> {
    let mut mcp = StreamableHttpServerConfig::default()
        .with_allowed_hosts(config.mcp_allowed_hosts.clone())
        .with_cancellation_token(shutdown);
    if let Origins::List(origins) = &config.allowed_origins {
        mcp = mcp.with_allowed_origins(origins.clone());
    }
    mcp.max_request_body_bytes = config.max_body_bytes;
    // Sessions live in the database, so any replica continues one that another began.
    mcp.session_store = Some(Arc::new(sessions::DbSessionStore(state.services.clone())));
    StreamableHttpService::new(
        move || Ok(TeamContextMcp::new(state.clone())),
        Arc::new(LocalSessionManager::default()),
        mcp,
    )
}

async fn authenticate(
    State(_): State<AppState>,
    Auth(caller): Auth,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert::<Caller>(caller);
    next.run(request).await
}
