//! `/context/*` and `/projects/{id}/context`: save, search, get, delete, list.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tc_domain::pagination::{PageParams, Paged};
use tc_domain::views::{
    BatchSaveRequest, BatchSaveResponse, ContextView, SaveContextRequest, SaveContextResponse,
    SearchRequest, SearchResponse,
};
use tc_store::ContextFilter;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Id, Json, Query, resource};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(save_context))
        .routes(routes!(save_batch))
        .routes(routes!(search_context))
        .routes(routes!(get_context, delete_context))
        .routes(routes!(list_project_context))
}

/// Save context to a project. Above 10,000 tokens the answer carries a warning; above 100,000
/// the content is split into searchable chunks; above the request size limit it is refused
/// with 413 CONTEXT_TOO_LARGE.
#[utoipa::path(post, path = "/context/save", tag = "context", security(("bearer" = [])),
    request_body = SaveContextRequest,
    responses((status = 201, body = SaveContextResponse), (status = 404), (status = 413), (status = 422)))]
async fn save_context(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<SaveContextRequest>,
) -> ApiResult<(StatusCode, Json<SaveContextResponse>)> {
    Ok((StatusCode::CREATED, Json(state.services.save_context(&caller, req, None).await?)))
}

/// Save up to 100 contexts in one request, each with the fields of `/context/save`, embedded
/// together on every core. One result per item, in order: an item that fails (invalid, a
/// project you cannot write to) says why and writes nothing; the others are saved. The
/// request size limit applies to the whole body.
#[utoipa::path(post, path = "/context/batch", tag = "context", security(("bearer" = [])),
    request_body = BatchSaveRequest,
    responses((status = 200, body = BatchSaveResponse), (status = 413), (status = 422)))]
async fn save_batch(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<BatchSaveRequest>,
) -> ApiResult<Json<BatchSaveResponse>> {
    Ok(Json(state.services.save_batch(&caller, req.items, None).await?))
}

/// Search the context of every project you can read (or of `project_ids`): hybrid vector and
/// keyword search by default; `mode` may be `vector`, `keyword` or `two_level`.
#[utoipa::path(post, path = "/context/search", tag = "context", security(("bearer" = [])),
    request_body = SearchRequest, responses((status = 200, body = SearchResponse), (status = 429)))]
async fn search_context(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<SearchRequest>,
) -> ApiResult<Json<SearchResponse>> {
    state.limits.check_search(caller.user_id).await?;
    Ok(Json(state.services.search(&caller, req).await?))
}

#[utoipa::path(get, path = "/context/{id}", tag = "context", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ContextView), (status = 404)))]
async fn get_context(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Context>,
) -> ApiResult<Json<ContextView>> {
    Ok(Json(state.services.get_context(&caller, id).await?))
}

/// Delete a context (and its chunks). Members of its project may delete.
#[utoipa::path(delete, path = "/context/{id}", tag = "context", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 403), (status = 404)))]
async fn delete_context(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Context>,
) -> ApiResult<StatusCode> {
    state.services.delete_context(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
    /// Only context with this source (`claude`, `codebase_scan`, …).
    source: Option<String>,
    /// Only context with this tag.
    tag: Option<String>,
    /// Only context whose file path starts with this.
    file_path: Option<String>,
}

/// A project's context, newest first.
#[utoipa::path(get, path = "/projects/{id}/context", tag = "context", security(("bearer" = [])),
    params(("id" = String, Path), ListQuery), responses((status = 200, body = Paged<ContextView>), (status = 404)))]
async fn list_project_context(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Project>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Paged<ContextView>>> {
    let filter = ContextFilter { source: q.source, tag: q.tag, file_path_prefix: q.file_path };
    let page = PageParams { limit: q.limit, cursor: q.cursor };
    Ok(Json(state.services.list_contexts(&caller, id, filter, &page).await?))
}
