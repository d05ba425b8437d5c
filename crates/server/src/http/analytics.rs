//! `/analytics/*`: cost savings, usage and context insights reports (SPEC §11).

use axum::extract::State;
use tc_domain::views::{ContextInsightsReport, CostSavingsReport, ReportQuery, UsageReport};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cost_savings))
        .routes(routes!(usage))
        .routes(routes!(context_insights))
}

/// Tokens assistants retrieved instead of having them pasted, and their worth, by day, week or
/// month (UTC). Your own activity by default; a project's with `project_id`.
#[utoipa::path(get, path = "/analytics/cost-savings", tag = "analytics", security(("bearer" = [])),
    params(ReportQuery),
    responses((status = 200, body = CostSavingsReport), (status = 403), (status = 404), (status = 422)))]
async fn cost_savings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<CostSavingsReport>> {
    Ok(Json(state.services.cost_savings(&caller, &q).await?))
}

/// Contexts saved and retrieved, the busiest projects and the assistants that did it
/// (`project_id`, `user_id`, `start_date`, `end_date` as for cost savings).
#[utoipa::path(get, path = "/analytics/usage", tag = "analytics", security(("bearer" = [])),
    params(ReportQuery),
    responses((status = 200, body = UsageReport), (status = 403), (status = 404), (status = 422)))]
async fn usage(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<UsageReport>> {
    Ok(Json(state.services.usage(&caller, &q).await?))
}

/// The most retrieved contexts, average context size and storage used, over one project
/// (`project_id`) or all the projects you can read.
#[utoipa::path(get, path = "/analytics/context-insights", tag = "analytics", security(("bearer" = [])),
    params(ReportQuery),
    responses((status = 200, body = ContextInsightsReport), (status = 404), (status = 422)))]
async fn context_insights(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<ContextInsightsReport>> {
    Ok(Json(state.services.context_insights(&caller, &q).await?))
}
