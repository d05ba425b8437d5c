//! `/auth/*`: register, login, refresh, logout.

use axum::extract::State;
use axum::http::StatusCode;
use tc_domain::views::{
    LoginRequest, LoginResponse, RefreshRequest, RegisterRequest, RegisterResponse, TokenPair,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

/// Create an account. Returns tokens and a first API key (shown this once).
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = RegisterResponse), (status = 409, description = "email taken"),
              (status = 422, description = "invalid field")))]
async fn register(
    State(state): State<AppState>,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<RegisterResponse>)> {
    Ok((StatusCode::CREATED, Json(state.services.register(req).await?)))
}

/// Exchange email and password for an access token and a refresh token.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "INVALID_CREDENTIALS")))]
async fn login(
    State(state): State<AppState>,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    if let Some(email) = &req.email {
        state.limits.check_login(email).await?;
    }
    Ok(Json(state.services.login(req).await?))
}

/// Spend a refresh token for a new pair. Each refresh token works once.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "TOKEN_REVOKED or TOKEN_EXPIRED")))]
async fn refresh(
    State(state): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    Ok(Json(state.services.refresh(req).await?))
}

/// Sign out: revokes the refresh token and every token descended from the same login.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "signed out")))]
async fn logout(
    State(state): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    state.services.logout(req).await?;
    Ok(StatusCode::NO_CONTENT)
}
