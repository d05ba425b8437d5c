//! `/auth/*`: register, login, refresh, logout, and the mail flows: password reset and address
//! verification.

use axum::extract::State;
use axum::http::StatusCode;
use tc_domain::views::{
    ForgotPasswordRequest, LoginRequest, LoginResponse, MessageResponse, RefreshRequest,
    RegisterRequest, RegisterResponse, ResetPasswordRequest, TokenPair, UserView,
    VerifyEmailRequest,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Json};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
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

/// Ask for a password-reset link by mail. Answers 202 the same way whether or not the address
/// has an account; the link works once, for 60 minutes, and an account gets at most one a
/// minute.
#[utoipa::path(post, path = "/auth/forgot-password", tag = "auth", request_body = ForgotPasswordRequest,
    responses((status = 202, body = MessageResponse),
              (status = 422, description = "not an email address"),
              (status = 503, description = "MAIL_NOT_CONFIGURED: the server sends no mail")))]
async fn forgot_password(
    State(state): State<AppState>,
    Json(req): Json<ForgotPasswordRequest>,
) -> ApiResult<(StatusCode, Json<MessageResponse>)> {
    // The login throttle per address: nobody floods one inbox through this server.
    if let Some(email) = &req.email {
        state.limits.check_login(email).await?;
    }
    Ok((StatusCode::ACCEPTED, Json(state.services.forgot_password(req).await?)))
}

/// Set a new password with the token from a reset mail. Signs out every session (refresh
/// tokens); API keys keep working.
#[utoipa::path(post, path = "/auth/reset-password", tag = "auth", request_body = ResetPasswordRequest,
    responses((status = 200, body = MessageResponse),
              (status = 400, description = "INVALID_INPUT: the token is unknown, used or expired"),
              (status = 422, description = "the new password is refused")))]
async fn reset_password(
    State(state): State<AppState>,
    Json(req): Json<ResetPasswordRequest>,
) -> ApiResult<Json<MessageResponse>> {
    Ok(Json(state.services.reset_password(req).await?))
}

/// Verify the account's address with the token from a verification mail.
#[utoipa::path(post, path = "/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses((status = 200, body = UserView),
              (status = 400, description = "INVALID_INPUT: the token is unknown, used or expired")))]
async fn verify_email(
    State(state): State<AppState>,
    Json(req): Json<VerifyEmailRequest>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(state.services.verify_email(req).await?))
}

/// Mail the caller a new verification link (at most one a minute).
#[utoipa::path(post, path = "/auth/resend-verification", tag = "auth", security(("bearer" = [])),
    responses((status = 202, body = MessageResponse),
              (status = 409, description = "the address is verified already"),
              (status = 429, description = "a link was sent less than a minute ago"),
              (status = 503, description = "MAIL_NOT_CONFIGURED: the server sends no mail")))]
async fn resend_verification(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<(StatusCode, Json<MessageResponse>)> {
    Ok((StatusCode::ACCEPTED, Json(state.services.resend_verification(&caller).await?)))
}
