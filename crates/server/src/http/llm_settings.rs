//! `/ai/llm-settings`: the caller's own language model (an OpenAI-compatible endpoint, model,
//! API key and extra headers, stored encrypted), used by their AI calls instead of the
//! server's; and a "test connection" that asks it for one short answer.

use axum::extract::State;
use axum::http::StatusCode;
use tc_domain::views::{LlmSettingsRequest, LlmSettingsView, LlmTestView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Json};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings, delete_settings))
        .routes(routes!(test))
}

/// The model the caller's AI calls use: their own (`source: user`, credentials never shown,
/// header names only), the server's, or none.
#[utoipa::path(get, path = "/ai/llm-settings", tag = "ai", security(("bearer" = [])),
    responses((status = 200, body = LlmSettingsView), (status = 401), (status = 403)))]
async fn get_settings(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<LlmSettingsView>> {
    Ok(Json(state.services.llm_settings(&caller).await?))
}

/// Use your own language model. `base_url` is reached through the outbound rule (an address
/// on the server's own network needs `OUTBOUND_ALLOWED_HOSTS`); check it with `…/test`.
#[utoipa::path(put, path = "/ai/llm-settings", tag = "ai", security(("bearer" = [])),
    request_body = LlmSettingsRequest,
    responses((status = 200, body = LlmSettingsView), (status = 400), (status = 403), (status = 422)))]
async fn put_settings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Json(req): Json<LlmSettingsRequest>,
) -> ApiResult<Json<LlmSettingsView>> {
    Ok(Json(state.services.set_llm_settings(&caller, req).await?))
}

/// Forget your own model: your calls use the server's again.
#[utoipa::path(delete, path = "/ai/llm-settings", tag = "ai", security(("bearer" = [])),
    responses((status = 204), (status = 404)))]
async fn delete_settings(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<StatusCode> {
    state.services.delete_llm_settings(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Test the connection: one short completion from the model your calls use. A model that
/// fails answers 200 with `ok: false` and the reason (recorded for your own model).
#[utoipa::path(post, path = "/ai/llm-settings/test", tag = "ai", security(("bearer" = [])),
    responses((status = 200, body = LlmTestView), (status = 403), (status = 422)))]
async fn test(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<Json<LlmTestView>> {
    Ok(Json(state.services.test_llm_settings(&caller).await?))
}
