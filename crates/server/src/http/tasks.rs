//! `/tasks`: team tasks (seed 002), the same service the MCP `todo_*` tools call.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use tc_domain::pagination::{PageParams, Paged};
use tc_domain::views::{CreateTaskRequest, TaskQuery, TaskView, UpdateTaskRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Id, Json, resource};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get_one, update, delete))
}

/// Tasks you can see, newest first: those of the projects you can read (or of `project_id`)
/// and your own tasks without a project, filtered by status, assignee, tag and due date.
#[utoipa::path(get, path = "/tasks", tag = "tasks", security(("bearer" = [])),
    params(TaskQuery, PageParams),
    responses((status = 200, body = Paged<TaskView>), (status = 401), (status = 404), (status = 422)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(query): Query<TaskQuery>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Paged<TaskView>>> {
    Ok(Json(state.services.list_tasks(&caller, &query, &page).await?))
}

/// Create a task: in a project you may write to, or your own without `project_id`.
#[utoipa::path(post, path = "/tasks", tag = "tasks", security(("bearer" = [])),
    request_body = CreateTaskRequest,
    responses((status = 201, body = TaskView), (status = 400), (status = 403), (status = 404), (status = 422)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<CreateTaskRequest>,
) -> ApiResult<(StatusCode, Json<TaskView>)> {
    Ok((StatusCode::CREATED, Json(state.services.create_task(&caller, req).await?)))
}

/// One task.
#[utoipa::path(get, path = "/tasks/{task_id}", tag = "tasks", security(("bearer" = [])),
    params(("task_id" = String, Path)), responses((status = 200, body = TaskView), (status = 404)))]
async fn get_one(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Task>,
) -> ApiResult<Json<TaskView>> {
    Ok(Json(state.services.get_task(&caller, id).await?))
}

/// Change a task: the fields given replace its own (`null` clears `assignee_id`, `due_date`).
#[utoipa::path(put, path = "/tasks/{task_id}", tag = "tasks", security(("bearer" = [])),
    params(("task_id" = String, Path)), request_body = UpdateTaskRequest,
    responses((status = 200, body = TaskView), (status = 403), (status = 404), (status = 422)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Task>,
    Json(req): Json<UpdateTaskRequest>,
) -> ApiResult<Json<TaskView>> {
    Ok(Json(state.services.update_task(&caller, id, req).await?))
}

/// Delete a task.
#[utoipa::path(delete, path = "/tasks/{task_id}", tag = "tasks", security(("bearer" = [])),
    params(("task_id" = String, Path)), responses((status = 204), (status = 403), (status = 404)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Task>,
) -> ApiResult<StatusCode> {
    state.services.delete_task(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
