//! `/users/me` and the caller's API keys.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use tc_domain::views::{
    ApiKeyView, ChangePasswordRequest, CreateApiKeyRequest, NewApiKeyView, RotateApiKeyRequest,
    RotatedApiKeyView, UserView,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Id, Json, optional_json, resource};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(rotate_key))
        .routes(routes!(revoke_key))
}

/// The authenticated user.
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, description = "not authenticated")))]
async fn me(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<Json<UserView>> {
    Ok(Json(state.services.me(&caller).await?))
}

/// Change the password; signs out every session (refresh tokens). API keys keep working.
#[utoipa::path(post, path = "/users/me/password", tag = "users", security(("bearer" = [])),
    request_body = ChangePasswordRequest, responses((status = 204, description = "changed")))]
async fn change_password(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    state.services.change_password(&caller, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's API keys (never the keys themselves).
#[utoipa::path(get, path = "/users/me/api-keys", tag = "api keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKeyView>)))]
async fn list_keys(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<Vec<ApiKeyView>>> {
    Ok(Json(state.services.list_api_keys(&caller).await?))
}

/// Create an API key, optionally read-only or restricted to one project. The key is shown once.
#[utoipa::path(post, path = "/users/me/api-keys", tag = "api keys", security(("bearer" = [])),
    request_body = CreateApiKeyRequest, responses((status = 201, body = NewApiKeyView)))]
async fn create_key(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<NewApiKeyView>)> {
    Ok((StatusCode::CREATED, Json(state.services.create_api_key(&caller, req).await?)))
}

/// Rotate a key: a new key replaces it, and the old one keeps working for 24 hours.
#[utoipa::path(post, path = "/users/me/api-key/rotate", tag = "api keys", security(("bearer" = [])),
    request_body(content = RotateApiKeyRequest, description = "optional"),
    responses((status = 200, body = RotatedApiKeyView)))]
async fn rotate_key(
    State(state): State<AppState>,
    Auth(caller): Auth,
    body: Bytes,
) -> ApiResult<Json<RotatedApiKeyView>> {
    let req: RotateApiKeyRequest = optional_json(&body)?;
    Ok(Json(state.services.rotate_api_key(&caller, req).await?))
}

/// Revoke a key now.
#[utoipa::path(delete, path = "/users/me/api-keys/{id}", tag = "api keys", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "revoked"), (status = 404)))]
async fn revoke_key(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Id(id, ..): Id<resource::ApiKey>,
) -> ApiResult<StatusCode> {
    state.services.revoke_api_key(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
