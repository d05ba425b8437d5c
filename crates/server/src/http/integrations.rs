//! Jira and Confluence: `/integrations/{product}/connect`, `/status`, `/disconnect`,
//! `/jira/sync`, `/confluence/sync`, `/jira/issues/{key}` and `/jira/search`. Sync jobs are followed at
//! `/jobs/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use tc_domain::views::{
    ConfluenceSyncRequest, ConnectRequest, ConnectionStatus, Disconnected, JiraIssueView,
    JiraSearchRequest, JiraSearchResponse, JiraSyncRequest, SyncAccepted,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(connect))
        .routes(routes!(status))
        .routes(routes!(disconnect))
        .routes(routes!(callback))
        .routes(routes!(jira_sync))
        .routes(routes!(confluence_sync))
        .routes(routes!(jira_issue))
        .routes(routes!(jira_search))
}

/// Connect the caller's Jira or Confluence: the credentials are verified with the site before
/// they are stored (sealed with AES-256-GCM). Replaces the caller's previous connection.
#[utoipa::path(post, path = "/integrations/{product}/connect", tag = "integrations",
    security(("bearer" = [])), params(("product" = String, Path, description = "`jira` or `confluence`")),
    request_body = ConnectRequest,
    responses((status = 200, body = ConnectionStatus), (status = 401), (status = 422), (status = 502)))]
async fn connect(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
    Json(req): Json<ConnectRequest>,
) -> ApiResult<Json<ConnectionStatus>> {
    Ok(Json(state.services.connect(&caller, &name, req).await?))
}

/// The caller's connection: whether it works, the site and account, the last sync, and why it
/// was disabled if it was.
#[utoipa::path(get, path = "/integrations/{product}/status", tag = "integrations",
    security(("bearer" = [])), params(("product" = String, Path, description = "`jira` or `confluence`")),
    responses((status = 200, body = ConnectionStatus), (status = 404)))]
async fn status(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<ConnectionStatus>> {
    Ok(Json(state.services.connection_status(&caller, &name).await?))
}

/// What Atlassian sends back after a consent.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// `access_denied` when the person declined.
    error: Option<String>,
}

/// Where Atlassian sends a person back after an OAuth 2.0 (3LO) consent (register this URL,
/// `…/integrations/jira/callback`, with the OAuth app; it serves Confluence too). Needs no
/// credential: the `state` names who asked, sealed by the server.
#[utoipa::path(get, path = "/integrations/{product}/callback", tag = "integrations",
    params(("product" = String, Path, description = "`jira` or `confluence`"), CallbackQuery),
    responses((status = 200, body = ConnectionStatus), (status = 400), (status = 401), (status = 502)))]
async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> ApiResult<Json<ConnectionStatus>> {
    Ok(Json(state.services.oauth_callback(&name, q.code, q.state, q.error).await?))
}

/// Remove the caller's connection and its secrets. Contexts already synced stay.
#[utoipa::path(delete, path = "/integrations/{product}/disconnect", tag = "integrations",
    security(("bearer" = [])), params(("product" = String, Path, description = "`jira` or `confluence`")),
    responses((status = 200, body = Disconnected), (status = 404)))]
async fn disconnect(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<Disconnected>> {
    Ok(Json(state.services.disconnect(&caller, &name).await?))
}

/// Sync Jira issues (by JQL, by key, or both) into a project as a background job; follow it
/// at `status_url`. Each issue becomes one context (source `jira`), updated in place on the
/// next sync.
#[utoipa::path(post, path = "/jira/sync", tag = "integrations", security(("bearer" = [])),
    request_body = JiraSyncRequest,
    responses((status = 202, body = SyncAccepted), (status = 400), (status = 403), (status = 404), (status = 422)))]
async fn jira_sync(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<JiraSyncRequest>,
) -> ApiResult<(StatusCode, Json<SyncAccepted>)> {
    Ok((StatusCode::ACCEPTED, Json(state.services.start_jira_sync(&caller, req).await?)))
}

/// Sync Confluence pages (of spaces, of a CQL query, by id) into a project as a background
/// job; follow it at `status_url`. Each page becomes one context (source `confluence`; long
/// pages split into chunks), updated in place on the next sync.
#[utoipa::path(post, path = "/confluence/sync", tag = "integrations", security(("bearer" = [])),
    request_body = ConfluenceSyncRequest,
    responses((status = 202, body = SyncAccepted), (status = 400), (status = 403), (status = 404), (status = 422)))]
async fn confluence_sync(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<ConfluenceSyncRequest>,
) -> ApiResult<(StatusCode, Json<SyncAccepted>)> {
    Ok((StatusCode::ACCEPTED, Json(state.services.start_confluence_sync(&caller, req).await?)))
}

/// One issue, live through the caller's connection, with its description and comments as
/// Markdown.
#[utoipa::path(get, path = "/jira/issues/{key}", tag = "integrations", security(("bearer" = [])),
    params(("key" = String, Path, description = "an issue key, e.g. OPS-123")),
    responses((status = 200, body = JiraIssueView), (status = 400), (status = 404), (status = 502)))]
async fn jira_issue(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(key): Path<String>,
) -> ApiResult<Json<JiraIssueView>> {
    Ok(Json(state.services.jira_issue(&caller, &key).await?))
}

/// A JQL search, live through the caller's connection, a page at a time.
#[utoipa::path(post, path = "/jira/search", tag = "integrations", security(("bearer" = [])),
    request_body = JiraSearchRequest,
    responses((status = 200, body = JiraSearchResponse), (status = 400), (status = 502)))]
async fn jira_search(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<JiraSearchRequest>,
) -> ApiResult<Json<JiraSearchResponse>> {
    Ok(Json(state.services.jira_search(&caller, req).await?))
}
