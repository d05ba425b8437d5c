//! `/health`: liveness and component status, without authentication.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::OwnBody;
use crate::extract::Json;
use crate::state::AppState;

/// How long an embedding-model probe is reused: a probe is a model call, and load balancers
/// ask every few seconds.
const EMBEDDER_PROBE_TTL: Duration = Duration::from_secs(30);
/// Queued writes beyond this mean the database is not keeping up (the queue drops new items at
/// twice this).
const WRITE_QUEUE_DEGRADED: usize = 50_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComponentHealth {
    /// `healthy` or `degraded`.
    status: &'static str,
    /// How long the check took (for the embedder, the last probe, reused for 30 s).
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl ComponentHealth {
    fn from_check(result: &Result<(), String>, latency: Duration, public_error: &str) -> Self {
        let latency_ms = latency.as_secs_f64() * 1000.0;
        match result {
            Ok(()) => ComponentHealth { status: "healthy", latency_ms, error: None },
            // The cause is for operators (it is logged); the endpoint is unauthenticated, so
            // it says only which part is failing.
            Err(_) => ComponentHealth {
                status: "degraded",
                latency_ms,
                error: Some(public_error.to_string()),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueHealth {
    /// `healthy`, or `degraded` when writes are piling up.
    status: &'static str,
    /// Access counts and analytics events waiting to be written (every few seconds).
    depth: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobQueueHealth {
    /// `healthy`, or `degraded` when the queue cannot be read.
    status: &'static str,
    /// Jobs waiting for a worker.
    queued: i64,
    /// Jobs a worker is running.
    running: i64,
    /// Workers in this process (`JOB_WORKERS`); 0 means jobs wait for another replica.
    workers: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Components {
    database: ComponentHealth,
    embedder: ComponentHealth,
    write_queue: QueueHealth,
    job_queue: JobQueueHealth,
    /// Present with `REDIS_URL`. While it is `degraded` the server still serves every request
    /// (rate limits are then counted per replica), so it does not make the answer a 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<ComponentHealth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `healthy`, or `degraded` when a component is failing.
    status: &'static str,
    version: &'static str,
    components: Components,
}

/// Server and component status. Answers 503 when a component the server cannot serve without
/// is failing, so load balancers can act on it; a Redis outage is reported as `degraded` with
/// 200, since every request is still served.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let db = state.services.store_healthy().await;
    if let Err(e) = &db {
        tracing::error!(error = %e, "health check: database unavailable");
    }
    let database = ComponentHealth::from_check(&db, started.elapsed(), "database unavailable");
    let embedder = embedder_health(&state).await;
    let (accesses, events) = state.services.pending_writes();
    let depth = accesses + events;
    let write_queue = QueueHealth {
        status: if depth > WRITE_QUEUE_DEGRADED { "degraded" } else { "healthy" },
        depth,
    };
    let job_queue = match state.services.job_counts().await {
        Ok(counts) => {
            let count = |s: &str| counts.iter().find(|(k, _)| k.as_str() == s).map_or(0, |c| c.1);
            JobQueueHealth {
                status: "healthy",
                queued: count("queued"),
                running: count("running"),
                workers: state.job_workers,
            }
        }
        Err(_) => {
            JobQueueHealth { status: "degraded", queued: 0, running: 0, workers: state.job_workers }
        }
    };
    let serving = [database.status, embedder.status, write_queue.status, job_queue.status]
        .iter()
        .all(|s| *s == "healthy");
    let redis = match &state.redis {
        None => None,
        Some(redis) => {
            let started = Instant::now();
            let result = redis.ping().await.map(|_| ());
            if let Err(e) = &result {
                tracing::warn!(error = %e, "health check: Redis unavailable");
            }
            Some(ComponentHealth::from_check(&result, started.elapsed(), "redis unavailable"))
        }
    };
    let healthy = serving && redis.as_ref().is_none_or(|r| r.status == "healthy");
    let code = if serving { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let report = Health {
        status: if healthy { "healthy" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        components: Components { database, embedder, write_queue, job_queue, redis },
    };
    let mut response = (code, Json(report)).into_response();
    // A 503 still carries the report: it says which component failed.
    response.extensions_mut().insert(OwnBody);
    response
}

/// The embedding model's health from a probe at most [`EMBEDDER_PROBE_TTL`] old.
async fn embedder_health(state: &AppState) -> ComponentHealth {
    let mut probe = state.embedder_probe.lock().await;
    if let Some((at, result, latency)) = probe.as_ref()
        && at.elapsed() < EMBEDDER_PROBE_TTL
    {
        return ComponentHealth::from_check(result, *latency, "embedding model unavailable");
    }
    let started = Instant::now();
    let result = state.services.embedder_healthy().await;
    let latency = started.elapsed();
    if let Err(e) = &result {
        tracing::error!(error = %e, "health check: embedding model failing");
    }
    let health = ComponentHealth::from_check(&result, latency, "embedding model unavailable");
    *probe = Some((Instant::now(), result, latency));
    health
}
