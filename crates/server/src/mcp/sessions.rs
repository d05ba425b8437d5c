//! MCP sessions shared through the database, so that behind a load balancer without sticky
//! sessions any replica continues a session another began, and bound to the user who opened
//! them: a request carrying someone else's session id is answered as an unknown session.
//!
//! [`DbSessionStore`] is the MCP SDK's session store (it keeps the client's initialize
//! parameters, which the SDK replays to restore a session on another replica). [`guard`] is the
//! `/mcp` middleware that records and checks the owner, and answers a session's termination with
//! `204 No Content` (the SDK answers `202`, which MCP clients log as a failed termination).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};
use tc_domain::{Caller, Services};
use tracing::warn;

use crate::state::AppState;

const SESSION_HEADER: &str = "mcp-session-id";
/// A session's last use is written at most this often.
const TOUCH_EVERY: Duration = Duration::hours(1);
/// Sessions unused for this long are forgotten (their clients start a new one).
pub const SESSION_IDLE_DAYS: i64 = 7;

/// The MCP SDK's session store, on the application's database.
#[derive(Debug, Clone)]
pub struct DbSessionStore(pub Arc<Services>);

#[async_trait::async_trait]
impl SessionStore for DbSessionStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let found = self.0.mcp_session(session_id).await?;
        Ok(match found.and_then(|s| s.state) {
            Some(json) => Some(serde_json::from_str(&json)?),
            None => None,
        })
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let json = serde_json::to_string(state)?;
        Ok(self.0.set_mcp_session_state(session_id, &json).await?)
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        Ok(self.0.delete_mcp_session(session_id).await?)
    }
}

/// Checks that a request's session belongs to its caller, records the owner of a session the
/// response opens, and turns a termination's `202` into `204`.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return next.run(request).await;
    };
    let services = &state.services;
    let session =
        request.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(id) = &session {
        match services.mcp_session(id).await {
            Ok(Some(found)) if found.user_id.is_some_and(|owner| owner != caller.user_id) => {
                return unknown_session();
            }
            Ok(Some(found)) if found.last_used_at + TOUCH_EVERY < services.now() => {
                claim(services, id, &caller).await;
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e.message, "could not read an MCP session"),
        }
    }
    let deleting = request.method() == Method::DELETE;
    let mut response = next.run(request).await;
    if session.is_none()
        && let Some(opened) = response.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok())
    {
        let opened = opened.to_string();
        claim(services, &opened, &caller).await;
    }
    if deleting && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = Body::empty();
    }
    response
}

async fn claim(services: &Services, id: &str, caller: &Caller) {
    if let Err(e) = services.claim_mcp_session(id, caller.user_id).await {
        warn!(error = %e.message, "could not record an MCP session's owner");
    }
}

/// What the SDK answers for a session it does not know.
fn unknown_session() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}
