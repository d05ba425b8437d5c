//! Invitations: a project owner's (`/projects/{id}/invitations`) and the invited person's
//! (`/users/me/invitations`, accept and decline). Inviting is `POST /projects/{id}/contributors`
//! (`projects.rs`), which answers with the invitation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use tc_domain::views::{InvitationView, ProjectView};
use tc_domain::{DomainError, ErrorCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(project_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(my_invitations))
        .routes(routes!(accept_invitation))
        .routes(routes!(decline_invitation))
}

fn invitation_not_found() -> ApiError {
    ApiError(DomainError::new(ErrorCode::ResourceNotFound, "invitation not found"))
}

/// A project's pending invitations (owner only).
#[utoipa::path(get, path = "/projects/{id}/invitations", tag = "projects",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Vec<InvitationView>), (status = 403), (status = 404)))]
async fn project_invitations(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<InvitationView>>> {
    let id = path_id(&id, || ApiError(DomainError::project_not_found()))?;
    Ok(Json(state.services.list_project_invitations(&caller, id).await?))
}

/// Withdraw a pending invitation (owner only).
#[utoipa::path(delete, path = "/projects/{id}/invitations/{invitation_id}", tag = "projects",
    security(("bearer" = [])), params(("id" = String, Path), ("invitation_id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn revoke_invitation(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path((id, invitation_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, || ApiError(DomainError::project_not_found()))?;
    let invitation_id = path_id(&invitation_id, invitation_not_found)?;
    state.services.revoke_invitation(&caller, id, invitation_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Invitations waiting for your email address. Nothing is shared with you until you accept.
#[utoipa::path(get, path = "/users/me/invitations", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<InvitationView>)))]
async fn my_invitations(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<Vec<InvitationView>>> {
    Ok(Json(state.services.my_invitations(&caller).await?))
}

/// Accept an invitation: you become a contributor of the project, which is returned.
#[utoipa::path(post, path = "/users/me/invitations/{id}/accept", tag = "users",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ProjectView), (status = 404)))]
async fn accept_invitation(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ProjectView>> {
    let id = path_id(&id, invitation_not_found)?;
    Ok(Json(state.services.accept_invitation(&caller, id).await?))
}

/// Decline an invitation.
#[utoipa::path(post, path = "/users/me/invitations/{id}/decline", tag = "users",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404)))]
async fn decline_invitation(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, invitation_not_found)?;
    state.services.decline_invitation(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
