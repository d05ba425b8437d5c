//! `/ai/stories`: Jira stories drafted from a project's context, refined, checked against the
//! quality rules and created in Jira through the caller's connection (seed 003). The MCP tools
//! `draft_jira_story` and `create_jira_story` call the same service. Drafting, refining and
//! validating retrieve context and may ask the language model: they count against
//! `RATE_LIMIT_SEARCH_PER_MIN` like questions.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use tc_domain::pagination::{PageParams, Paged};
use tc_domain::views::{
    CreateStoryRequest, DraftStoryRequest, RefineStoryRequest, StoryDraftView, StoryQuery,
    StoryValidationView,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Id, Json, Query, optional_json, resource};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(draft))
        .routes(routes!(list))
        .routes(routes!(get_one, delete))
        .routes(routes!(refine))
        .routes(routes!(validate))
        .routes(routes!(create))
}

/// Draft a Jira story (or task, bug, sub-task) from requirements and the project's context:
/// written by the language model, or without one filled into the template.
#[utoipa::path(post, path = "/ai/stories/draft", tag = "ai", security(("bearer" = [])),
    request_body = DraftStoryRequest,
    responses((status = 201, body = StoryDraftView), (status = 400), (status = 401), (status = 403),
        (status = 404), (status = 422), (status = 429)))]
async fn draft(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<DraftStoryRequest>,
) -> ApiResult<(StatusCode, Json<StoryDraftView>)> {
    state.limits.check_search(caller.user_id).await?;
    Ok((StatusCode::CREATED, Json(state.services.draft_story(&caller, req).await?)))
}

/// Story drafts of the projects you can read (or of `project_id`), newest first.
#[utoipa::path(get, path = "/ai/stories", tag = "ai", security(("bearer" = [])),
    params(StoryQuery, PageParams),
    responses((status = 200, body = Paged<StoryDraftView>), (status = 401), (status = 404)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(query): Query<StoryQuery>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Paged<StoryDraftView>>> {
    Ok(Json(state.services.list_stories(&caller, &query, &page).await?))
}

/// One draft with every revision.
#[utoipa::path(get, path = "/ai/stories/{id}", tag = "ai", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = StoryDraftView), (status = 404)))]
async fn get_one(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::StoryDraft>,
) -> ApiResult<Json<StoryDraftView>> {
    Ok(Json(state.services.get_story(&caller, id).await?))
}

/// Delete a draft (an issue created from it stays in Jira).
#[utoipa::path(delete, path = "/ai/stories/{id}", tag = "ai", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 403), (status = 404), (status = 409)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::StoryDraft>,
) -> ApiResult<StatusCode> {
    state.services.delete_story(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Refine a draft: your edits, then your instructions (by the language model; without one,
/// the fixes the rules can make). Each refinement is a new revision.
#[utoipa::path(post, path = "/ai/stories/{id}/refine", tag = "ai", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RefineStoryRequest,
    responses((status = 200, body = StoryDraftView), (status = 403), (status = 404), (status = 409), (status = 422)))]
async fn refine(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::StoryDraft>,
    Json(req): Json<RefineStoryRequest>,
) -> ApiResult<Json<StoryDraftView>> {
    state.limits.check_search(caller.user_id).await?;
    Ok(Json(state.services.refine_story(&caller, id, req).await?))
}

/// Check a draft against the user-story quality rules (INVEST, QUS): each finding with its
/// severity and a fix; the rules that need a language model are listed as skipped without one.
#[utoipa::path(post, path = "/ai/stories/{id}/validate", tag = "ai", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = StoryValidationView), (status = 404)))]
async fn validate(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::StoryDraft>,
) -> ApiResult<Json<StoryValidationView>> {
    state.limits.check_search(caller.user_id).await?;
    Ok(Json(state.services.validate_story(&caller, id).await?))
}

/// Create the draft's issue in Jira through your Jira connection (ADF on Cloud, wiki markup
/// on Data Center, fields from the project's create metadata). Never sent twice: when Jira's
/// answer is lost, the issue is looked for first.
#[utoipa::path(post, path = "/ai/stories/{id}/create", tag = "ai", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = CreateStoryRequest, description = "optional"),
    responses((status = 201, body = StoryDraftView), (status = 400), (status = 401), (status = 404),
        (status = 409), (status = 422), (status = 429), (status = 502)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::StoryDraft>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<StoryDraftView>)> {
    let req: CreateStoryRequest = optional_json(&body)?;
    Ok((StatusCode::CREATED, Json(state.services.create_story(&caller, id, req).await?)))
}
