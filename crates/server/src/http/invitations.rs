//! Invitations: a project owner's (`/projects/{id}/invitations`) and the invited person's
//! (`/users/me/invitations`, accept and decline). Inviting is `POST /projects/{id}/contributors`
//! (`projects.rs`), which answers with the invitation.

use axum::extract::State;
use axum::http::StatusCode;
use tc_domain::views::{InvitationView, ProjectView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Id, Ids, Json, resource};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(project_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(my_invitations))
        .routes(routes!(accept_invitation))
        .routes(routes!(decline_invitation))
}

/// A project's pending invitations (owner only).
#[utoipa::path(get, path = "/projects/{id}/invitations", tag = "projects",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Vec<InvitationView>), (status = 403), (status = 404)))]
async fn project_invitations(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Project>,
) -> ApiResult<Json<Vec<InvitationView>>> {
    Ok(Json(state.services.list_project_invitations(&caller, id).await?))
}

/// Withdraw a pending invitation (owner only).
#[utoipa::path(delete, path = "/projects/{id}/invitations/{invitation_id}", tag = "projects",
    security(("bearer" = [])), params(("id" = String, Path), ("invitation_id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn revoke_invitation(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id, invitation_id, ..): Ids<resource::Project, resource::Invitation>,
) -> ApiResult<StatusCode> {
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
    Id(id, ..): Id<resource::Invitation>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(state.services.accept_invitation(&caller, id).await?))
}

/// Decline an invitation.
#[utoipa::path(post, path = "/users/me/invitations/{id}/decline", tag = "users",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404)))]
async fn decline_invitation(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::Invitation>,
) -> ApiResult<StatusCode> {
    state.services.decline_invitation(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
