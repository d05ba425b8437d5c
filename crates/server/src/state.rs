//! The state every handler receives: the service layer, the rate limiters and what the
//! operations endpoints (health, metrics) keep between requests.

use std::sync::Arc;
use std::time::Instant;

use tc_domain::Services;

use crate::rate_limit::RateLimits;

pub type EmbedderProbe = (Instant, Result<(), String>, std::time::Duration);

#[derive(Debug, Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub limits: Arc<RateLimits>,
    pub started: Instant,
    /// The bearer token `/metrics` requires (`METRICS_TOKEN`), if any.
    pub metrics_token: Option<Arc<str>>,
    /// The last embedding-model probe of the health check: when, its outcome and how long it
    /// took. A tokio mutex, so that concurrent health checks wait for one probe instead of each
    /// making one.
    pub embedder_probe: Arc<tokio::sync::Mutex<Option<EmbedderProbe>>>,
    /// The largest scan upload (`SCAN_MAX_UPLOAD_BYTES`).
    pub scan_upload_limit: usize,
    /// Where uploaded archives wait while a scan is set up.
    pub scan_upload_dir: std::path::PathBuf,
    /// Job workers in this process (`JOB_WORKERS`), for health.
    pub job_workers: usize,
    /// The shared state, with `REDIS_URL`; for health.
    pub redis: Option<Arc<crate::redis::Redis>>,
}

impl AppState {
    pub fn new(
        services: Arc<Services>,
        limits: Arc<RateLimits>,
        metrics_token: Option<&str>,
    ) -> Self {
        AppState {
            services,
            limits,
            started: Instant::now(),
            metrics_token: metrics_token.map(Arc::from),
            embedder_probe: Arc::default(),
            scan_upload_limit: 200 * 1024 * 1024,
            scan_upload_dir: std::env::temp_dir(),
            job_workers: 0,
            redis: None,
        }
    }

    /// Sets the scan upload limit, the directory for uploads in progress and the number of
    /// job workers.
    pub fn with_scans(mut self, limit: usize, dir: std::path::PathBuf, workers: usize) -> Self {
        self.scan_upload_limit = limit;
        self.scan_upload_dir = dir;
        self.job_workers = workers;
        self
    }
}
