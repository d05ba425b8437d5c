//! Prometheus metrics, served at `/api/v1/metrics`.
//!
//! Everything is recorded through the `metrics` facade into one process-wide Prometheus recorder,
//! installed on first use: HTTP requests here (by method, route template and status), rate-limit
//! rejections in `rate_limit`, search and embedding timings in the domain (`tc_domain::metrics`).
//! Gauges that describe a state rather than an event (database connections, queued writes) are
//! read when scraped. Latencies are histograms in seconds with the buckets below.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tc_domain::services::Services;
use tracing::warn;

pub const HTTP_REQUESTS: &str = "teamcontext_http_requests_total";
pub const HTTP_SECONDS: &str = "teamcontext_http_request_duration_seconds";
pub const RATE_LIMITED: &str = "teamcontext_rate_limited_total";
pub const REDIS_UP: &str = "teamcontext_redis_up";
pub const REDIS_ERRORS: &str = "teamcontext_redis_errors_total";
const DB_CONNECTIONS: &str = "teamcontext_db_connections";
const PENDING_WRITES: &str = "teamcontext_pending_writes";
const UPTIME: &str = "teamcontext_uptime_seconds";
const JOBS: &str = "teamcontext_jobs";
const BUILD_INFO: &str = "teamcontext_build_info";

/// From 1 ms (a cached read) to 10 s (a large save on a busy machine).
const BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process's recorder, installed the first time it is asked for. If another recorder was
/// installed first (the server embedded in another program), that one keeps receiving the
/// metrics and this handle renders only what is recorded directly through it.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            warn!("a metrics recorder was already installed; /metrics will be incomplete");
        }
        describe();
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    use tc_domain::metrics as domain;
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, route and status.");
    describe_histogram!(HTTP_SECONDS, metrics::Unit::Seconds, "HTTP request latency.");
    describe_counter!(RATE_LIMITED, "Requests refused by a rate limit, by limit.");
    describe_gauge!(REDIS_UP, "1 while Redis (REDIS_URL) answers, 0 while it does not.");
    describe_counter!(REDIS_ERRORS, "Redis operations that failed or timed out, by operation.");
    describe_histogram!(
        domain::SEARCH_SECONDS,
        metrics::Unit::Seconds,
        "Search latency including embedding the query, by mode."
    );
    describe_histogram!(
        domain::EMBED_SECONDS,
        metrics::Unit::Seconds,
        "Embedding model calls (one batch of texts)."
    );
    describe_counter!(domain::EMBEDDED_TEXTS, "Texts embedded, by outcome.");
    describe_counter!(
        domain::SEARCH_DEGRADED,
        "Searches answered by keyword alone because the embedding model was unavailable, by mode."
    );
    describe_counter!(
        domain::EMBEDDING_DEFERRED,
        "Contexts stored without vectors because the embedding model was unavailable."
    );
    describe_gauge!(
        domain::EMBEDDING_BACKLOG,
        "Contexts without vectors from the current model (the embedding job drains it)."
    );
    describe_counter!(
        domain::ADF_UNKNOWN_NODES,
        "Atlassian Document Format nodes rendered by the fallback, by node type."
    );
    describe_gauge!(DB_CONNECTIONS, "Database connections, by state (in_use, idle).");
    describe_gauge!(PENDING_WRITES, "Access counts and analytics events not yet written.");
    describe_gauge!(UPTIME, metrics::Unit::Seconds, "Time since the server started.");
    describe_gauge!(JOBS, "Background jobs by status (queued is the queue depth).");
    describe_counter!(domain::JOBS_FINISHED, "Background jobs ended, by kind and outcome.");
    describe_gauge!(BUILD_INFO, "Always 1; the version is a label.");
}

/// Records one answered HTTP request. `route` is the matched route template (`None` for a
/// request no route matched, so that probes of random paths cannot create new series).
pub fn http_request(method: &str, route: Option<&str>, status: u16, latency: Duration) {
    // A client may send any method name; only the standard ones become label values, so that
    // nobody can grow the metric's series without bound.
    let method = match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "other",
    };
    let labels = [
        ("method", method.to_string()),
        ("route", route.unwrap_or("unmatched").to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_SECONDS, &labels).record(latency.as_secs_f64());
}

/// The exposition text, with the gauges that are read rather than recorded brought up to date.
pub async fn render(services: &Services, started: std::time::Instant) -> String {
    let handle = handle();
    // Every status is set, including absent ones, so a drained queue reads 0 rather than stale.
    let counts = services.job_counts().await.unwrap_or_default();
    for status in ["queued", "running", "succeeded", "failed", "cancelled"] {
        let n = counts.iter().find(|(s, _)| s.as_str() == status).map_or(0, |(_, n)| *n);
        metrics::gauge!(JOBS, "status" => status).set(n as f64);
    }
    let pool = services.store_pool_status();
    metrics::gauge!(DB_CONNECTIONS, "state" => "in_use").set(f64::from(pool.in_use));
    metrics::gauge!(DB_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
    let (accesses, events) = services.pending_writes();
    metrics::gauge!(PENDING_WRITES, "kind" => "context_access").set(accesses as f64);
    metrics::gauge!(PENDING_WRITES, "kind" => "analytics_event").set(events as f64);
    metrics::gauge!(UPTIME).set(started.elapsed().as_secs_f64());
    handle.run_upkeep();
    handle.render()
}
