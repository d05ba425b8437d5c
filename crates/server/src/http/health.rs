//! `/health`: liveness and component status, without authentication.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentHealth {
    /// `healthy` or `unhealthy`.
    status: &'static str,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Components {
    database: ComponentHealth,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `healthy`, or `degraded` when a component is failing.
    status: &'static str,
    version: &'static str,
    components: Components,
}

/// Server and component status. Answers 503 when degraded, so load balancers can act on it.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let started = Instant::now();
    let db = state.services.store_healthy().await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let database = match db {
        Ok(()) => ComponentHealth { status: "healthy", latency_ms, error: None },
        // The store's message is for operators; the health endpoint is unauthenticated, so say
        // only that the database is unreachable.
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            ComponentHealth {
                status: "unhealthy",
                latency_ms,
                error: Some("database unavailable".into()),
            }
        }
    };
    let healthy = database.status == "healthy";
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        code,
        Json(Health {
            status: if healthy { "healthy" } else { "degraded" },
            version: env!("CARGO_PKG_VERSION"),
            components: Components { database },
        }),
    )
}
