//! `/projects` and `/projects/{id}/contributors`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tc_domain::pagination::{PageParams, Paged};
use tc_domain::views::{
    AddContributorRequest, CreateProjectRequest, InvitationView, MemberView, ProjectView,
    UpdateProjectRequest,
};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Id, Ids, Json, Query, resource};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(restore_project))
        .routes(routes!(list_contributors, add_contributor))
        .routes(routes!(remove_contributor))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Items per page, 1–100 (default 20).
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// List your soft-deleted projects that can still be restored.
    deleted: Option<bool>,
}

/// Projects you own or contribute to, newest first.
#[utoipa::path(get, path = "/projects", tag = "projects", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Paged<ProjectView>)))]
async fn list_projects(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Paged<ProjectView>>> {
    let page = PageParams { limit: q.limit, cursor: q.cursor };
    Ok(Json(state.services.list_projects(&caller, q.deleted.unwrap_or(false), &page).await?))
}

/// Create a project; you become its owner.
#[utoipa::path(post, path = "/projects", tag = "projects", security(("bearer" = [])),
    request_body = CreateProjectRequest, responses((status = 201, body = ProjectView)))]
async fn create_project(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<CreateProjectRequest>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    Ok((StatusCode::CREATED, Json(state.services.create_project(&caller, req).await?)))
}

/// A project you can see: one you are a member of, or a `team` project.
#[utoipa::path(get, path = "/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ProjectView), (status = 404)))]
async fn get_project(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Project>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(state.services.get_project(&caller, id).await?))
}

/// Change name, description, visibility or settings (owner only). Absent fields are kept.
#[utoipa::path(put, path = "/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateProjectRequest,
    responses((status = 200, body = ProjectView), (status = 403), (status = 404)))]
async fn update_project(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Project>,
    Json(req): Json<UpdateProjectRequest>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(state.services.update_project(&caller, id, req).await?))
}

/// Soft-delete (owner only); restorable for 30 days.
#[utoipa::path(delete, path = "/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 403), (status = 404)))]
async fn delete_project(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Project>,
) -> ApiResult<StatusCode> {
    state.services.delete_project(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Undo a delete within 30 days (owner only).
#[utoipa::path(post, path = "/projects/{id}/restore", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ProjectView), (status = 404)))]
async fn restore_project(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Project>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(state.services.restore_project(&caller, id).await?))
}

/// The owner and contributors.
#[utoipa::path(get, path = "/projects/{id}/contributors", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<MemberView>), (status = 404)))]
async fn list_contributors(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Project>,
) -> ApiResult<Json<Vec<MemberView>>> {
    Ok(Json(state.services.list_contributors(&caller, id).await?))
}

/// Invite a contributor by email or user id (owner only). They join when they accept
/// (`/users/me/invitations`); the answer is the same whether the address has an account yet.
#[utoipa::path(post, path = "/projects/{id}/contributors", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AddContributorRequest,
    responses((status = 202, body = InvitationView), (status = 404), (status = 409)))]
async fn add_contributor(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Project>,
    Json(req): Json<AddContributorRequest>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    Ok((StatusCode::ACCEPTED, Json(state.services.add_contributor(&caller, id, req).await?)))
}

/// Remove a contributor (owner), or leave a project (the contributor themself).
#[utoipa::path(delete, path = "/projects/{id}/contributors/{user_id}", tag = "projects",
    security(("bearer" = [])), params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn remove_contributor(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id, user_id, ..): Ids<resource::Project, resource::Contributor>,
) -> ApiResult<StatusCode> {
    state.services.remove_contributor(&caller, id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
