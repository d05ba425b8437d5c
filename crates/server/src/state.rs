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
    /// `TRUSTED_PROXIES`: peers whose forwarding headers name the client.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// Scan uploads in progress per user.
    pub uploads: UploadSlots,
    /// `PUBLIC_URL` when set: how the dashboard names the server in MCP set-up snippets.
    pub public_url: Option<Arc<str>>,
    /// Dashboard cookies are `Secure` (PUBLIC_URL is `https://…`).
    pub secure_cookies: bool,
}

/// Counts the uploads each user has in progress in this process, so that one user cannot fill
/// the disk and the upload path with many at once.
#[derive(Debug, Clone, Default)]
pub struct UploadSlots(Arc<parking_lot::Mutex<std::collections::HashMap<uuid::Uuid, usize>>>);

impl UploadSlots {
    /// A slot for `user` if they hold fewer than `max`; it is given back when dropped.
    pub fn take(&self, user: uuid::Uuid, max: usize) -> Option<UploadSlot> {
        let mut held = self.0.lock();
        let count = held.entry(user).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(UploadSlot { slots: self.clone(), user })
    }
}

#[derive(Debug)]
pub struct UploadSlot {
    slots: UploadSlots,
    user: uuid::Uuid,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut held = self.slots.0.lock();
        if let Some(count) = held.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.user);
            }
        }
    }
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
            trusted_proxies: Arc::from([]),
            uploads: UploadSlots::default(),
            public_url: None,
            secure_cookies: false,
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
