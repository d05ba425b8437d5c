//! `/ai/mcp-servers`: the MCP servers (Streamable HTTP) a user registers so that the agent may
//! call their tools — register (the server must answer the handshake and list its tools), list,
//! read, refresh the cached tool list, delete. The bearer token is stored encrypted and never
//! shown again.

use axum::extract::State;
use axum::http::StatusCode;
use tc_domain::views::{McpServerList, McpServerView, RegisterMcpServerRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Id, Json, resource};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, register))
        .routes(routes!(get_one, delete))
        .routes(routes!(refresh))
}

/// The caller's MCP servers, by name, each with its cached tools.
#[utoipa::path(get, path = "/ai/mcp-servers", tag = "ai", security(("bearer" = [])),
    responses((status = 200, body = McpServerList), (status = 401), (status = 403)))]
async fn list(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<Json<McpServerList>> {
    Ok(Json(state.services.mcp_servers(&caller).await?))
}

/// Register an MCP server for the agent. It is connected to at once (within the outbound rule:
/// an address on the server's own network needs `OUTBOUND_ALLOWED_HOSTS`); a server that does
/// not complete the MCP handshake and list its tools is refused with `MCP_SERVER_FAILED`.
#[utoipa::path(post, path = "/ai/mcp-servers", tag = "ai", security(("bearer" = [])),
    request_body = RegisterMcpServerRequest,
    responses((status = 201, body = McpServerView), (status = 400), (status = 401), (status = 403),
        (status = 409), (status = 422), (status = 502)))]
async fn register(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<RegisterMcpServerRequest>,
) -> ApiResult<(StatusCode, Json<McpServerView>)> {
    Ok((StatusCode::CREATED, Json(state.services.register_mcp_server(&caller, req).await?)))
}

/// One of the caller's MCP servers.
#[utoipa::path(get, path = "/ai/mcp-servers/{id}", tag = "ai", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = McpServerView), (status = 404)))]
async fn get_one(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::McpServer>,
) -> ApiResult<Json<McpServerView>> {
    Ok(Json(state.services.mcp_server(&caller, id).await?))
}

/// Forget an MCP server and its token; the agent no longer offers its tools.
#[utoipa::path(delete, path = "/ai/mcp-servers/{id}", tag = "ai", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::McpServer>,
) -> ApiResult<StatusCode> {
    state.services.delete_mcp_server(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fetch the server's tool list now rather than when the cached one is six hours old. A
/// server that fails answers `MCP_SERVER_FAILED`; its cached tools stay in use, with the error
/// recorded on the server.
#[utoipa::path(post, path = "/ai/mcp-servers/{id}/refresh", tag = "ai", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = McpServerView), (status = 404), (status = 502)))]
async fn refresh(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::McpServer>,
) -> ApiResult<Json<McpServerView>> {
    Ok(Json(state.services.refresh_mcp_server(&caller, id).await?))
}
